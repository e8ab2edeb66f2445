"""Diagnostics: what is wrong, where (file, line, field) and how to fix it, collected without stopping.

Every problem is counted; only the first ``PER_CODE_CAP`` of each kind are kept with their location, so a
million broken lines cost a few kilobytes. Messages never contain the data itself (it may hold PII).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import DataError

PER_CODE_CAP = 20  # diagnostics kept per kind (all are counted)

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    code: str  # short kind, e.g. "json", "role", "duplicate"
    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None
    hint: str | None = None

    def where(self) -> str:
        return ":".join(str(x) for x in (self.file, self.line) if x is not None)

    def text(self) -> str:
        out = f"{self.where()}: {self.message}" if self.where() else self.message
        if self.field:
            out += f" (field {self.field})"
        if self.hint:
            out += f" — {self.hint}"
        return out

    def shifted(self, offset: int) -> Diagnostic:
        if self.line is None or not offset:
            return self
        return Diagnostic(self.severity, self.code, self.message, self.file, self.line + offset, self.field, self.hint)


@dataclass
class Diagnostics:
    """Counts every problem by (severity, code); keeps the first few of each kind."""

    items: list[Diagnostic] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def add(self, severity: str, code: str, message: str, *, file: str | None = None, line: int | None = None,
            field: str | None = None, hint: str | None = None) -> None:
        self.add_diag(Diagnostic(severity, code, message, file, line, field, hint))

    def error(self, code: str, message: str, **where) -> None:
        self.add(ERROR, code, message, **where)

    def warning(self, code: str, message: str, **where) -> None:
        self.add(WARNING, code, message, **where)

    def add_diag(self, d: Diagnostic) -> None:
        key = (d.severity, d.code)
        self.counts[key] += 1
        if self.counts[key] <= PER_CODE_CAP:
            self.items.append(d)

    def count_only(self, severity: str, code: str, n: int) -> None:
        """Count ``n`` more of a kind whose first few were already kept (or that needs no location)."""
        self.counts[(severity, code)] += n

    def merge(self, other: Diagnostics, line_offset: int = 0) -> None:
        kept = Counter()
        for d in other.items:
            kept[(d.severity, d.code)] += 1
            before = self.counts[(d.severity, d.code)]
            self.counts[(d.severity, d.code)] += 1
            if before < PER_CODE_CAP:
                self.items.append(d.shifted(line_offset))
        for key, n in other.counts.items():
            self.counts[key] += n - kept[key]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == WARNING]

    def total(self, severity: str) -> int:
        return sum(n for (sev, _), n in self.counts.items() if sev == severity)

    def totals_by_code(self, severity: str) -> dict[str, int]:
        return {code: n for (sev, code), n in sorted(self.counts.items()) if sev == severity}


@dataclass
class Report:
    """Everything validation found, as shown by ``anytune data validate`` (and its ``--json``)."""

    files: list[str]
    format: str | None
    diagnostics: Diagnostics
    examples: int = 0  # valid examples read
    lines: int = 0  # records/lines read, valid or not
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)  # split -> examples + token stats
    tokenizer: str = ""
    approximate_tokens: bool = False
    max_seq_length: int | None = None
    too_long: dict[str, Any] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    leakage: dict[str, int] = field(default_factory=dict)
    redaction: dict[str, int] = field(default_factory=dict)
    conversions: dict[str, int] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> column, when anytune detected it
    content_hash: str | None = None

    @property
    def ok(self) -> bool:
        return self.diagnostics.total(ERROR) == 0

    def summary_line(self) -> str:
        e, w = self.diagnostics.total(ERROR), self.diagnostics.total(WARNING)
        state = "usable" if self.ok else "NOT usable"
        return f"{self.examples} valid examples of {self.lines} read; {e} errors, {w} warnings: data is {state}"

    def to_dict(self) -> dict[str, Any]:
        d = self.diagnostics
        return {
            "ok": self.ok,
            "files": self.files,
            "format": self.format,
            "examples": self.examples,
            "lines": self.lines,
            "errors": self.diagnostics.total(ERROR),
            "warnings": self.diagnostics.total(WARNING),
            "error_counts": d.totals_by_code(ERROR),
            "warning_counts": d.totals_by_code(WARNING),
            "diagnostics": [{k: v for k, v in asdict(x).items() if v is not None} for x in d.items],
            "splits": self.splits,
            "tokenizer": self.tokenizer,
            "approximate_tokens": self.approximate_tokens,
            "max_seq_length": self.max_seq_length,
            "too_long": self.too_long,
            "duplicates": self.duplicates,
            "leakage": self.leakage,
            "redaction": self.redaction,
            "conversions": self.conversions,
            "columns_detected": self.columns,
            "content_hash": self.content_hash,
            "summary": self.summary_line(),
        }


class DataValidationError(DataError):
    """The data is unusable. ``report`` holds every diagnostic (capped per kind) with totals."""

    def __init__(self, report: Report):
        self.report = report
        errors = report.diagnostics.errors
        first = errors[0] if errors else None
        total = report.diagnostics.total(ERROR)
        shown = "\n".join(f"  - {d.text()}" for d in errors[:10])
        more = total - min(len(errors), 10)
        text = f"the data is not usable: {total} error(s)\n{shown}"
        if more > 0:
            text += f"\n  ... and {more} more (run `anytune data validate` for the full report)"
        super().__init__(text)
        if first is not None:
            self.file, self.line, self.field, self.hint = first.file, first.line, first.field, first.hint
