"""The one training code path (transformers + peft), run locally and inside every cloud container.

Entry point: ``python -m anytune.trainer`` (see :mod:`anytune.trainer.cli`). Importing this package is
light: torch and transformers are imported only when a run starts. Providers may use
:func:`check_method` to say early whether a method can run on a machine.
"""

from .checks import check_method

__all__ = ["check_method"]
