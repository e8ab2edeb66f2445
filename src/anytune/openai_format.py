"""OpenAI's fine-tuning file format: checking it line by line, and converting to and from anytune's
canonical records. Pure Python, light to import: shared by ``anytune serve`` (checks uploads) and the
OpenAI provider (converts prepared data before uploading it).

OpenAI's rules (fine-tuning guide, "Preparing your dataset"), checked per line:

- chat (``supervised``): ``{"messages": [...]}`` with roles system/developer/user/assistant/tool
  (``function`` for legacy data), at least one assistant message, ``content`` a string (a list of
  content parts for vision data; null only on an assistant message that calls a tool), and ``weight``
  0 or 1 on assistant messages only;
- preference (``dpo``): ``{"input": {"messages": [...]}, "preferred_output": [assistant message],
  "non_preferred_output": [assistant message]}``;
- legacy completion: ``{"prompt": "...", "completion": "..."}``.

Every line of a file must be of one kind. Whole-file rules (at least 10 examples) are checked by the
caller when a job is created, as OpenAI does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DataError

MIN_EXAMPLES = 10
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
CHAT, PREFERENCE, COMPLETION = "chat", "preference", "prompt_completion"
METHOD_OF = {CHAT: "supervised", COMPLETION: "supervised", PREFERENCE: "dpo"}


class LineProblem(ValueError):
    """What is wrong with one line (the caller adds the line number)."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


def _message(m: Any, where: str) -> None:
    if not isinstance(m, dict):
        raise LineProblem("each message must be a JSON object", where)
    role = m.get("role")
    if role not in ROLES:
        raise LineProblem(f"role must be one of {', '.join(ROLES)}, got {role!r}", f"{where}.role")
    content = m.get("content")
    calls = m.get("tool_calls") or m.get("function_call")
    if content is None:
        if not (role == "assistant" and calls):
            raise LineProblem("content is missing (null is allowed only on an assistant tool call)",
                              f"{where}.content")
    elif not isinstance(content, (str, list)):
        raise LineProblem("content must be a string or a list of content parts", f"{where}.content")
    if "weight" in m:
        if role != "assistant":
            raise LineProblem("weight is allowed on assistant messages only", f"{where}.weight")
        if m["weight"] not in (0, 1) or isinstance(m["weight"], bool):
            raise LineProblem("weight must be 0 or 1", f"{where}.weight")


def _messages(msgs: Any, where: str, *, need_assistant: bool) -> None:
    if not isinstance(msgs, list) or not msgs:
        raise LineProblem("must be a non-empty list of messages", where)
    for i, m in enumerate(msgs):
        _message(m, f"{where}[{i}]")
    if need_assistant and not any(m.get("role") == "assistant" for m in msgs):
        raise LineProblem("an example needs at least one assistant message to learn from", where)


def check_record(obj: Any) -> str:
    """The kind of one parsed line (chat, preference, prompt_completion); LineProblem when invalid."""
    if not isinstance(obj, dict):
        raise LineProblem(f"each line must be a JSON object, got {type(obj).__name__}")
    if "messages" in obj:
        _messages(obj["messages"], "messages", need_assistant=True)
        return CHAT
    if "input" in obj or "preferred_output" in obj or "non_preferred_output" in obj:
        inp = obj.get("input")
        if not isinstance(inp, dict):
            raise LineProblem("input must be an object holding messages", "input")
        _messages(inp.get("messages"), "input.messages", need_assistant=False)
        for key in ("preferred_output", "non_preferred_output"):
            out = obj.get(key)
            _messages(out, key, need_assistant=True)
            if len(out) != 1 or out[0].get("role") != "assistant":
                raise LineProblem("must hold exactly one assistant message", key)
        return PREFERENCE
    if "prompt" in obj and "completion" in obj:
        for key in ("prompt", "completion"):
            if not isinstance(obj[key], str):
                raise LineProblem("must be a string", key)
        return COMPLETION
    raise LineProblem("not a fine-tuning example: expected 'messages' (chat), 'input' with "
                      "'preferred_output'/'non_preferred_output' (preference), or 'prompt' and 'completion'")


@dataclass
class FileCheck:
    """What a checked file holds."""

    kind: str | None = None
    examples: int = 0


class LineChecker:
    """Checks a JSONL file line by line as it streams past; raises DataError naming the first bad line."""

    def __init__(self, source: str):
        self.source = source
        self.result = FileCheck()
        self._lineno = 0

    def feed(self, line: bytes | str) -> None:
        self._lineno += 1
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        if not text.strip():
            return
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise DataError(f"not valid JSON: {exc}", file=self.source, line=self._lineno,
                            hint="each line of a JSONL file must be one complete JSON object") from None
        except RecursionError:  # json's C parser stops at Python's recursion limit
            raise DataError("JSON nested too deeply", file=self.source, line=self._lineno,
                            hint="a training example is an object of messages, a few levels deep") from None
        try:
            kind = check_record(obj)
        except LineProblem as exc:
            raise DataError(str(exc), file=self.source, line=self._lineno, field=exc.field) from None
        if self.result.kind is None:
            self.result.kind = kind
        elif kind != self.result.kind:
            raise DataError(f"this line is a {kind} example but earlier lines are {self.result.kind} examples",
                            file=self.source, line=self._lineno, hint="put one kind of example in a file")
        self.result.examples += 1


def check_file(path: Path, source: str | None = None) -> FileCheck:
    checker = LineChecker(source or Path(path).name)
    with open(path, "rb") as f:
        for raw in f:
            try:
                checker.feed(raw)
            except UnicodeDecodeError:
                raise DataError("not UTF-8 text", file=checker.source, line=checker._lineno) from None
    return checker.result


def read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


# --- canonical (anytune.data) <-> OpenAI -----------------------------------------------------------


def _text_messages(value: Any, role: str) -> list[dict]:
    """A canonical prompt/answer (a string or a list of messages) as a list of messages."""
    if isinstance(value, list):
        return [dict(m) for m in value]
    return [{"role": role, "content": str(value)}]


def to_openai(record: dict, fmt: str, system_prompt: str | None = None) -> dict:
    """One canonical record (format ``fmt``) as an OpenAI fine-tuning line."""
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    if fmt == "chat":
        msgs = []
        for m in record["messages"]:
            m = {k: v for k, v in m.items() if v is not None}
            if m.get("role") != "assistant":
                m.pop("weight", None)  # OpenAI accepts weight on assistant turns only; others are never trained
            msgs.append(m)
        return {"messages": msgs}
    if fmt == "prompt_completion":
        return {"messages": system + [{"role": "user", "content": str(record["prompt"])},
                                      {"role": "assistant", "content": str(record["completion"])}]}
    if fmt == "preference":
        prompt = _text_messages(record["prompt"], "user")
        has_system = any(m.get("role") == "system" for m in prompt)
        return {"input": {"messages": ([] if has_system else system) + prompt},
                "preferred_output": _text_messages(record["chosen"], "assistant")[-1:],
                "non_preferred_output": _text_messages(record["rejected"], "assistant")[-1:]}
    raise DataError(f"OpenAI fine-tuning takes chat, prompt/completion or preference data, not {fmt!r}",
                    hint="give the data as conversations (messages) or prompt/completion pairs")


def from_openai(obj: dict, kind: str) -> dict:
    """One OpenAI fine-tuning line as a canonical anytune record (what ``anytune serve`` trains on)."""
    if kind == CHAT:
        return {"messages": [{k: v for k, v in m.items() if k in ("role", "content", "weight")}
                             for m in obj["messages"]]}
    if kind == COMPLETION:
        return {"prompt": obj["prompt"], "completion": obj["completion"]}
    if kind == PREFERENCE:
        prompt = [{"role": m["role"], "content": m["content"]} for m in obj["input"]["messages"]]
        return {"prompt": prompt, "chosen": obj["preferred_output"][0]["content"],
                "rejected": obj["non_preferred_output"][0]["content"]}
    raise ValueError(kind)


def write_jsonl(records: Iterable[dict], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    return n
