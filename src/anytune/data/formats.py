"""Canonical record shapes, format detection, conversion and per-record checks.

Canonical JSONL records (what every provider and the trainer read):

    chat               {"messages": [{"role": "system|user|assistant", "content": "...", "weight": 0|1}]}
    prompt_completion  {"prompt": "...", "completion": "..."}
    text               {"text": "..."}
    preference         {"prompt": "..." or [messages before the answer], "chosen": "...", "rejected": "..."}

Also read and converted: ShareGPT (``conversations`` of ``from``/``value``) to chat, Alpaca
(``instruction``/``input``/``output``) to prompt_completion, and prompt_completion to chat (with the
spec's ``system_prompt``). ``weight`` is kept only on assistant messages, as in OpenAI's chat format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from json.encoder import encode_basestring as _enc
from typing import Any

FORMATS = ("chat", "prompt_completion", "text", "preference")
ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "model": "assistant", "chatgpt": "assistant"}
MESSAGE_KEYS = {"role", "content", "weight", "name"}

# How each input shape turns into each canonical format (source shape -> reachable targets).
CONVERTIBLE = {
    "chat": {"chat"},
    "sharegpt": {"chat"},
    "prompt_completion": {"prompt_completion", "chat"},
    "alpaca": {"prompt_completion", "chat"},
    "text": {"text"},
    "preference": {"preference"},
}
NATURAL = {"chat": "chat", "sharegpt": "chat", "prompt_completion": "prompt_completion",
           "alpaca": "prompt_completion", "text": "text", "preference": "preference"}


class Problem(Exception):
    """One thing wrong with one record."""

    def __init__(self, code: str, message: str, field: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field, self.hint = code, message, field, hint


def shape_of(rec: Mapping[str, Any]) -> str | None:
    """The input shape of a record (a canonical format, 'sharegpt' or 'alpaca'), or None."""
    if "messages" in rec:
        return "chat"
    if "conversations" in rec:
        return "sharegpt"
    if "chosen" in rec and "rejected" in rec:
        return "preference"
    if "prompt" in rec and "completion" in rec:
        return "prompt_completion"
    if "instruction" in rec and "output" in rec:
        return "alpaca"
    if "text" in rec:
        return "text"
    return None


def apply_columns(rec: dict[str, Any], columns: Mapping[str, str]) -> dict[str, Any]:
    """Rename the spec's mapped columns to their canonical names (``{prompt: question}``)."""
    if not columns:
        return rec
    out = {k: v for k, v in rec.items() if k not in columns.values()}
    for canonical, source in columns.items():
        if source in rec:
            out[canonical] = rec[source]
    return out


def _text(rec: Mapping[str, Any], key: str, *, allow_empty: bool = False, field: str | None = None,
          tabular: bool = False) -> str:
    field = field or key
    if key not in rec or rec[key] is None:
        raise Problem("missing_field", f"missing {key!r}", field, f"every record needs {key!r}")
    v = rec[key]
    if not isinstance(v, str):
        if tabular and isinstance(v, int | float) and not isinstance(v, bool):
            v = str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
        else:
            raise Problem("type", f"{key!r} must be a string, got {_kind(v)}", field, "put the text in a JSON string")
    if not allow_empty and not v.strip():
        raise Problem("empty", f"{key!r} is empty", field, "remove the record or fill in the text")
    return v


def _kind(v: Any) -> str:
    return {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number",
            type(None): "null", str: "a string"}.get(type(v), type(v).__name__)


def _messages(raw: Any, field: str, tabular: bool) -> list[Any]:
    if tabular and isinstance(raw, str):  # a CSV/XLSX cell holding the messages as JSON
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            raise Problem("type", "the messages cell is not valid JSON", field,
                          'write the cell as a JSON array: [{"role": "user", "content": "..."}, ...]') from None
    if not isinstance(raw, list):
        raise Problem("type", f"{field!r} must be an array of messages, got {_kind(raw)}", field,
                      'use [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]')
    if not raw:
        raise Problem("empty", f"{field!r} is empty", field, "add at least a user and an assistant message")
    return raw


def _chat(rec: Mapping[str, Any], tabular: bool) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    out = []
    trained = False
    started = False  # a non-system message was seen
    for i, m in enumerate(_messages(rec["messages"], "messages", tabular)):
        # the common case costs a handful of dict lookups; every message is checked the same way
        if type(m) is not dict:
            raise Problem("type", f"messages[{i}] must be an object with role and content, got {_kind(m)}",
                          f"messages[{i}]")
        role = m.get("role")
        content = m.get("content")
        if role not in _ROLE_SET or type(content) is not str or not content or content.isspace():
            _message_problem(i, role, content)
        if len(m) == 2:
            msg = m  # exactly role and content, both checked: already canonical (we own the parsed object)
        else:
            msg = _message_extras(i, m, role, content, notes)
        if role == "assistant":
            if msg.get("weight", 1):
                trained = True
        elif role == "system":
            if started:
                notes.append("a system message after the conversation started")
        if role != "system":
            started = True
        out.append(msg)
    if not trained:
        if not any(x["role"] == "assistant" for x in out):
            raise Problem("no_assistant", "no assistant message", "messages",
                          "each example needs at least one assistant reply to learn from")
        raise Problem("no_assistant", "every assistant message has weight 0: nothing to learn", "messages",
                      "set weight 1 on at least one assistant message")
    if out[-1]["role"] != "assistant":
        notes.append("the conversation ends after the last assistant message (the rest is not trained on)")
    return {"messages": out}, notes


_ROLE_SET = frozenset(ROLES)


def _prompt_messages(raw: list[Any]) -> list[dict[str, str]]:
    """A preference prompt given as the conversation before the answer (OpenAI's ``input.messages``)."""
    if not raw:
        raise Problem("empty", "'prompt' is an empty list of messages", "prompt", "give the conversation or a string")
    out = []
    for i, m in enumerate(raw):
        f = f"prompt[{i}]"
        if type(m) is not dict:
            raise Problem("type", f"{f} must be an object with role and content, got {_kind(m)}", f)
        role, content = m.get("role"), m.get("content")
        if role not in _ROLE_SET or type(content) is not str or not content.strip():
            _message_problem(i, role, content, "prompt")
        out.append({"role": role, "content": content})
    if out[-1]["role"] != "user":
        raise Problem("preference", "the prompt must end with a user message (the answer follows it)",
                      f"prompt[{len(out) - 1}].role", "put the preferred and rejected answers in chosen/rejected")
    return out


def _message_problem(i: int, role: Any, content: Any, key: str = "messages") -> None:
    f = f"{key}[{i}]"
    if role is None:
        raise Problem("role", f"{f} has no role", f"{f}.role", f"set role to one of {', '.join(ROLES)}")
    if role not in _ROLE_SET:
        hint = f"use one of {', '.join(ROLES)}"
        if role in ("tool", "function", "developer", "ipython"):
            hint = f"{role!r} messages are not supported for fine-tuning here; " + hint
        raise Problem("role", f"{f} has unknown role {str(role)[:20]!r}", f"{f}.role", hint)
    if content is None:
        raise Problem("missing_field", f"{f} has no content", f"{f}.content", "every message needs text content")
    if not isinstance(content, str):
        hint = "content parts (images, audio) are not supported; use plain text" if isinstance(content, list) \
            else "put the text in a JSON string"
        raise Problem("type", f"{f}.content must be a string, got {_kind(content)}", f"{f}.content", hint)
    raise Problem("empty", f"{f} ({role}) has empty content", f"{f}.content", "remove the message or fill in the text")


def _message_extras(i: int, m: dict[str, Any], role: str, content: str, notes: list[str]) -> dict[str, Any]:
    f = f"messages[{i}]"
    msg: dict[str, Any] = {"role": role, "content": content}
    if "weight" in m:
        w = m["weight"]
        if role != "assistant":
            raise Problem("weight", f"{f}: weight is only allowed on assistant messages", f"{f}.weight",
                          "remove weight from user and system messages")
        if w not in (0, 1) or isinstance(w, bool):
            raise Problem("weight", f"{f}.weight must be 0 or 1, got {str(w)[:20]}", f"{f}.weight",
                          "use 1 to train on the message, 0 to skip it")
        msg["weight"] = int(w)
    if isinstance(m.get("name"), str) and m["name"]:
        msg["name"] = m["name"]
    extra = set(m) - MESSAGE_KEYS
    if extra:
        notes.append("unknown message keys dropped: " + ", ".join(sorted(map(str, extra)))[:80])
    return msg


def _sharegpt(rec: Mapping[str, Any], tabular: bool) -> tuple[dict[str, Any], list[str]]:
    msgs = []
    for i, turn in enumerate(_messages(rec["conversations"], "conversations", tabular)):
        f = f"conversations[{i}]"
        if not isinstance(turn, dict):
            raise Problem("type", f"{f} must be an object with from and value, got {_kind(turn)}", f)
        who = turn.get("from")
        if who not in SHAREGPT_ROLES:
            raise Problem("role", f"{f} has unknown speaker {str(who)[:20]!r}", f"{f}.from",
                          "use human, gpt or system")
        msgs.append({"role": SHAREGPT_ROLES[who], "content": turn.get("value")})
    return _chat({"messages": msgs}, tabular=False)


def canonical(rec: Mapping[str, Any], target: str, *, system_prompt: str | None = None,
              tabular: bool = False) -> tuple[dict[str, Any], str, list[str]]:
    """(canonical record in ``target`` format, its input shape, notes) or raises :class:`Problem`.

    ``tabular`` rows (CSV/XLSX/Parquet) may hold numbers where text is expected (turned into text) and the
    chat messages as a JSON string."""
    shape = shape_of(rec)
    if shape is None:
        keys = ", ".join(sorted(map(str, rec))[:8]) or "none"
        raise Problem("shape", f"not a recognised record (keys: {keys})", None,
                      "use messages, prompt/completion, text, or prompt/chosen/rejected; "
                      "map other names with data.columns")
    if target not in CONVERTIBLE[shape]:
        raise Problem("format_mix", f"a {shape} record cannot become {target}", None,
                      f"make every record {target}, or set data.format to match the data")
    notes: list[str] = []
    if shape == "chat":
        out, notes = _chat(rec, tabular)
    elif shape == "sharegpt":
        out, notes = _sharegpt(rec, tabular)
    elif shape == "text":
        out = {"text": _text(rec, "text", tabular=tabular)}
    elif shape == "preference":
        raw = rec.get("prompt")
        out = {"prompt": _prompt_messages(raw) if isinstance(raw, list)
               else _text(rec, "prompt", allow_empty=True, tabular=tabular),
               "chosen": _text(rec, "chosen", tabular=tabular),
               "rejected": _text(rec, "rejected", tabular=tabular)}
        if out["chosen"] == out["rejected"]:
            raise Problem("preference", "chosen and rejected are the same text", "rejected",
                          "a preference pair needs two different answers")
    else:
        if shape == "alpaca":
            instruction = _text(rec, "instruction", tabular=tabular)
            extra = rec.get("input")
            prompt = instruction + ("\n\n" + extra if isinstance(extra, str) and extra.strip() else "")
            out = {"prompt": prompt, "completion": _text(rec, "output", tabular=tabular)}
        else:
            out = {"prompt": _text(rec, "prompt", allow_empty=True, tabular=tabular),
                   "completion": _text(rec, "completion", tabular=tabular)}
        if not out["prompt"].strip() and target == "prompt_completion":
            notes.append("empty prompt")
        if target == "chat":
            if not out["prompt"].strip():
                raise Problem("empty", "'prompt' is empty, so there is no user message", "prompt",
                              "fill in the prompt")
            system = rec.get("system") if isinstance(rec.get("system"), str) and rec.get("system") else system_prompt
            msgs = [{"role": "system", "content": system}] if system else []
            msgs += [{"role": "user", "content": out["prompt"]}, {"role": "assistant", "content": out["completion"]}]
            out = {"messages": msgs}
    return out, shape, notes


def dumps(rec: Mapping[str, Any]) -> str:
    """The canonical JSON line of a record: compact, keys in canonical order, UTF-8 text unescaped except the
    characters some readers take for line ends (U+0085, U+2028, U+2029). Same result as ``json.dumps(rec,
    ensure_ascii=False, separators=(",", ":"))`` plus those escapes, several times faster for chat."""
    if "messages" in rec:
        parts = []
        for m in rec["messages"]:
            if len(m) == 2:
                parts.append(f'{{"role":"{m["role"]}","content":{_enc(m["content"])}}}')
            else:
                parts.append(json.dumps(m, ensure_ascii=False, separators=(",", ":")))
        line = '{"messages":[' + ",".join(parts) + "]}"
    else:
        line = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
    if not line.isascii() and ("\x85" in line or "\u2028" in line or "\u2029" in line):
        line = line.replace("\x85", "\\u0085").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return line


def texts(rec: Mapping[str, Any]) -> list[str]:
    """The text fields of a canonical record, in order (for normalised duplicate keys and PII)."""
    if "messages" in rec:
        return [m["role"] + "\x00" + m["content"] for m in rec["messages"]]
    return [str(v) for v in rec.values()]
