"""The dataset pipeline: load any common format, convert to one canonical format, validate, redact PII,
split, count tokens and hash — streaming, in parallel, before anything leaves the machine.

    from anytune.data import prepare, PreparedData, validate

Light to import: numpy, pyarrow, openpyxl and the tokenizers load only when data is processed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .options import DataOptions
    from .pipeline import PreparedData, load_prepared, prepare, validate
    from .report import DataValidationError, Report

_EXPORTS = {
    "prepare": "pipeline", "validate": "pipeline", "PreparedData": "pipeline", "load_prepared": "pipeline",
    "DataOptions": "options", "Report": "report", "DataValidationError": "report",
}

__all__ = ["DataOptions", "DataValidationError", "PreparedData", "Report", "load_prepared", "prepare", "validate"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'anytune.data' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
