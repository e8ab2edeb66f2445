"""Turn one canonical training record into text, split where the loss starts.

``render(record, tokenizer) -> (prompt_text, completion_text)``: the trainer tokenizes both parts and
computes the loss on the completion tokens only. The two strings concatenated are exactly what the model
sees; special tokens appear as text (the trainer tokenizes with ``add_special_tokens=False``).

Rules per canonical format:

- ``chat`` (``{"messages": [...]}``): the conversation is cut after the last assistant message whose
  ``weight`` is not 0 (default 1); that message is the completion, everything before it the prompt.
  With a chat template (``tokenizer.chat_template``) the prompt is the template applied to the earlier
  messages with ``add_generation_prompt=True`` and the completion is what the full render adds to it.
  Without one, a plain fallback: each message as ``"<role>: <content>\\n"``, the prompt ending in
  ``"assistant: "`` and the completion being the answer followed by the tokenizer's EOS token.
- ``prompt_completion``: with a chat template, rendered as one user/assistant exchange (the model is
  trained the way it will be prompted); without one, ``prompt`` and ``completion + EOS`` as they are.
- ``text``: the prompt is empty and the whole text (+ EOS) is trained on.
- ``preference``: not a supervised format; DataError (it trains with ``objective: dpo``, :mod:`anytune.trainer.dpo`).

Light on purpose: no torch or transformers import; ``tokenizer`` is duck-typed.
"""

from __future__ import annotations

from typing import Any

from ..errors import DataError
from .formats import shape_of

ROLES = ("system", "user", "assistant")


def detect_format(record: dict[str, Any]) -> str:
    """The canonical format of a prepared record (the data pipeline wrote it; anything else is a bug upstream)."""
    fmt = shape_of(record)
    if fmt not in ("chat", "preference", "prompt_completion", "text"):
        raise DataError(f"record has none of the canonical keys (messages, prompt/completion, text): {sorted(record)}")
    return fmt


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _eos(tokenizer) -> str:
    return getattr(tokenizer, "eos_token", None) or ""


def preference_prompt(record: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """A preference record's prompt as messages, and as plain text (its turns' contents, a blank line apart)."""
    prompt = record.get("prompt", "")
    if isinstance(prompt, list):
        return [dict(m) for m in prompt], "\n\n".join(str(m["content"]) for m in prompt)
    return [{"role": "user", "content": str(prompt)}], str(prompt)


def render(record: dict[str, Any], tokenizer) -> tuple[str, str]:
    """(prompt_text, completion_text) for one canonical record; the loss is taken on the completion."""
    fmt = detect_format(record)
    if fmt == "text":
        return "", str(record["text"]) + _eos(tokenizer)
    if fmt == "prompt_completion":
        prompt, completion = str(record["prompt"]), str(record["completion"])
        if has_chat_template(tokenizer):
            return _render_chat([{"role": "user", "content": prompt},
                                 {"role": "assistant", "content": completion}], tokenizer)
        return prompt, completion + _eos(tokenizer)
    if fmt == "chat":
        return _render_chat(record["messages"], tokenizer)
    raise DataError("preference records (prompt/chosen/rejected) train with objective: dpo",
                    hint="set objective: dpo in the job spec, or train on prompt/completion or chat data")


def _render_chat(messages: list[dict[str, Any]], tokenizer) -> tuple[str, str]:
    msgs = [m for m in messages if m.get("role") in ROLES]
    if len(msgs) != len(messages):
        bad = sorted({str(m.get("role")) for m in messages} - set(ROLES))
        raise DataError(f"unknown chat role(s) {bad}", field="messages.role", hint=f"use one of {', '.join(ROLES)}")
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant" and m.get("weight", 1) != 0), default=None)
    if last is None:
        raise DataError("chat record has no assistant message to learn from", field="messages")
    history = [{"role": m["role"], "content": str(m["content"])} for m in msgs[:last]]
    answer = str(msgs[last]["content"])
    prompt = prompt_text(history, tokenizer)
    if has_chat_template(tokenizer):
        full = tokenizer.apply_chat_template(history + [{"role": "assistant", "content": answer}], tokenize=False)
        if full.startswith(prompt):
            return prompt, full[len(prompt):]
        # A template whose generation prompt is not a prefix of the full render (rare): train on the answer.
    return prompt, answer + _eos(tokenizer)


def prompt_text(messages: list[dict[str, Any]], tokenizer) -> str:
    """What the model sees before it writes the next assistant message: the chat template with the
    generation prompt, or the plain fallback (``"<role>: <content>\\n"`` each, then ``"assistant: "``).
    Training, evaluation, ``anytune chat`` and serving all prompt through this one function."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "


def eval_prompt(record: dict[str, Any]) -> tuple[list[dict[str, str]], str | None, str]:
    """A held-out record as (conversation before the answer, raw prompt or None, reference answer).

    The raw prompt is set for prompt/completion records: without a chat template the trainer fed it as it
    is, so a model trained that way is prompted that way. A preference record's reference is its chosen answer;
    text records have none."""
    fmt = detect_format(record)
    if fmt == "prompt_completion":
        prompt = str(record["prompt"])
        return [{"role": "user", "content": prompt}], prompt, str(record["completion"])
    if fmt == "chat":
        msgs = record["messages"]
        last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant" and m.get("weight", 1) != 0),
                   default=None)
        if last is None:
            raise DataError("chat record has no assistant message to compare with", field="messages")
        history = [{"role": str(m["role"]), "content": str(m["content"])} for m in msgs[:last]]
        return history, None, str(msgs[last]["content"])
    if fmt == "preference":  # the chosen answer is the reference
        messages, prompt = preference_prompt(record)
        return messages, prompt, str(record["chosen"])
    raise DataError(f"{fmt} records have no reference answer to score generations against",
                    hint="evaluate on prompt/completion or chat data")
