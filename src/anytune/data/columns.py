"""Which columns of a table (or keys of a JSON record) hold the prompt and the answer.

- ``data.columns`` (``-c`` on the CLI) names them; each name is matched exactly, else case-insensitively, else
  reported with the file's real columns and the closest one.
- Without a mapping, the canonical names in any case (``Prompt``/``Completion``, ``Text``, ``Messages``) and
  the common pairs below (case-insensitive) are recognised, and the report says what was mapped.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .formats import shape_of

# (prompt column, answer column), first match wins
PAIRS = (("question", "answer"), ("input", "output"), ("instruction", "response"), ("prompt", "response"),
         ("query", "response"), ("question", "response"), ("query", "answer"), ("prompt", "answer"),
         ("user", "assistant"), ("source", "target"))
CANONICAL = ("messages", "conversations", "prompt", "completion", "chosen", "rejected", "text", "instruction",
             "input", "output", "system")


def hint(canonical: str, column: str, origin: str) -> str:
    """How to map ``canonical`` to ``column`` where the user is: the CLI's ``-c`` or the spec's data.columns."""
    return f"-c {canonical}={column}" if origin == "cli" else f"data.columns: {{{canonical}: {column}}}"


def detect(keys: Iterable[str]) -> dict[str, str]:
    """A mapping (canonical -> column) that makes a record with these keys recognisable; {} if none does."""
    keys = [str(k) for k in keys]
    lower = {k.lower(): k for k in keys}
    renamed = {c: lower[c] for c in CANONICAL if c in lower and lower[c] != c}
    if renamed and shape_of(dict.fromkeys([k for k in keys if k not in renamed.values()] + list(renamed))):
        return renamed
    for prompt, answer in PAIRS:
        if prompt in lower and answer in lower:
            return {"prompt": lower[prompt], "completion": lower[answer]}
    return {}


def resolve(columns: dict[str, str], keys: Iterable[str], origin: str) -> tuple[dict[str, str], list[str]]:
    """The mapping with each column name as the file spells it, and a problem per name the file lacks."""
    keys = [str(k) for k in keys]
    lower = {k.lower(): k for k in keys}
    out, problems = {}, []
    for canonical, column in columns.items():
        if column in keys:
            out[canonical] = column
        elif column.lower() in lower:
            out[canonical] = lower[column.lower()]
        else:
            close = difflib.get_close_matches(column.lower(), list(lower), n=1, cutoff=0.6)
            guess = f"; did you mean {lower[close[0]]!r} ({hint(canonical, lower[close[0]], origin)})?" if close else ""
            where = "-c" if origin == "cli" else "data.columns"
            problems.append(f"{where} maps {canonical} to {column!r}, which is not a column of this file "
                            f"(its columns: {', '.join(keys[:12])}){guess}")
    return out, problems


def describe(mapping: dict[str, str]) -> str:
    return ", ".join(f"{c} <- {col}" for c, col in mapping.items())
