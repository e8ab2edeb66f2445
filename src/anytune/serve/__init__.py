"""``anytune serve``: an OpenAI-compatible fine-tuning API backed by anytune's own trainer.

Light to import: the web stack (FastAPI, uvicorn) is imported by :func:`create_app` and the CLI only.
OpenAI's file format, which the OpenAI provider shares, is ``anytune.openai_format``.
"""

from __future__ import annotations


def create_app(config):
    """The FastAPI application for ``config`` (an :class:`anytune.serve.config.ServeConfig`)."""
    from .app import create_app as _create

    return _create(config)
