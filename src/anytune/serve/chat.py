"""``POST /v1/chat/completions`` and ``POST /v1/completions`` for the base models the server was started with and
every ``ft:`` model its jobs produced; ``DELETE /v1/models/{id}`` removes a fine-tuned model.

Requests are validated as the fine-tuning routes are (OpenAI's error shape; unknown fields refused, known ones
that change nothing here accepted), with limits on message size and tokens. ``stream: true`` answers with
server-sent events in OpenAI's chunk format. Generation runs on the model's worker (:mod:`.inference`).
"""

from __future__ import annotations

import json
import queue
import secrets
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..inference import GenerationParams, Prompt
from .errors import APIError
from .inference import END, Work

router = APIRouter()
MAX_TEXT = 1_000_000  # characters in all messages of one request
MAX_NEW_TOKENS = 4096
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
IGNORED = ("presence_penalty", "frequency_penalty", "logit_bias", "user", "metadata", "store", "parallel_tool_calls",
           "service_tier", "reasoning_effort", "modalities", "prediction")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Body):
    type: Literal["text"]
    text: str


class Message(_Body):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = Field(None, max_length=64)

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(_Body):
    include_usage: bool = False


class _Sampling(_Body):
    model: str = Field(min_length=1, max_length=1024)
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    seed: int | None = None
    n: Annotated[int, Field(ge=1, le=8)] = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    # accepted and ignored: they change nothing for these engines
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None

    def params(self, max_new: int) -> GenerationParams:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        temperature = 1.0 if self.temperature is None else self.temperature  # OpenAI's default
        return GenerationParams(max_new_tokens=max_new, temperature=temperature, top_p=self.top_p or 1.0,
                                seed=self.seed, stop=stop)


class ChatRequest(_Sampling):
    messages: Annotated[list[Message], Field(min_length=1, max_length=2048)]
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None

    @field_validator("messages")
    @classmethod
    def _size(cls, v: list[Message]):
        if sum(len(m.text()) for m in v) > MAX_TEXT:
            raise ValueError(f"the messages hold more than {MAX_TEXT:,} characters")
        return v


class CompletionRequest(_Sampling):
    prompt: Annotated[str, Field(max_length=MAX_TEXT)] | Annotated[list[Annotated[str, Field(max_length=MAX_TEXT)]],
                                                                  Field(min_length=1, max_length=64)]


def _limits(loaded, adapter, prompts: list[Prompt], asked: int | None) -> int:
    engine = loaded.engine_for(adapter)
    context = engine.context_length
    longest = max(engine.count_tokens(p) for p in prompts)
    if asked is not None and asked > MAX_NEW_TOKENS:
        raise APIError(400, f"max_tokens is too large: {asked}. This server generates at most {MAX_NEW_TOKENS} "
                       "tokens per answer.", param="max_tokens", code="invalid_value")
    room = (context - longest) if context else MAX_NEW_TOKENS
    if room <= 0 or (asked is not None and asked > room):
        raise APIError(400, f"This model's maximum context length is {context} tokens. However, you requested "
                       f"{longest + (asked or 0)} tokens ({longest} in the messages, {asked or 0} in the "
                       "completion). Please reduce the length of the messages or completion.",
                       param="messages", code="context_length_exceeded")
    return min(asked or MAX_NEW_TOKENS, room, MAX_NEW_TOKENS)


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _run(request: Request, body: _Sampling, prompts: list[Prompt], asked: int | None):
    pool = request.app.state.models
    loaded, adapter = pool.get(body.model)
    max_new = _limits(loaded, adapter, prompts, asked)
    return loaded, adapter, body.params(max_new)


def _sse(chunks: Iterator[dict[str, Any]]) -> StreamingResponse:
    def events():
        for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def _stream_pieces(loaded, adapter, prompt: Prompt, params: GenerationParams) -> Iterator[str]:
    work = loaded.submit(Work(adapter, [prompt], params, stream=queue.Queue()))
    while True:
        item = work.stream.get()
        if item is END:
            return
        if isinstance(item, Exception):
            raise item
        yield item


@router.post("/chat/completions")
def chat_completions(request: Request, body: ChatRequest):
    prompt = Prompt.chat([{"role": ROLES[m.role], "content": m.text()} for m in body.messages])
    loaded, adapter, params = _run(request, body, [prompt], body.max_completion_tokens or body.max_tokens)
    cid, created = f"chatcmpl-{secrets.token_hex(12)}", int(time.time())
    prompt_tokens = loaded.engine_for(adapter).count_tokens(prompt)
    if body.stream:
        if body.n != 1:
            raise APIError(400, "n > 1 is not supported with stream: true by anytune serve.", param="n")
        include_usage = bool(body.stream_options and body.stream_options.include_usage)

        def chunks():
            base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model}
            yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": None}]}
            text = ""
            for piece in _stream_pieces(loaded, adapter, prompt, params):
                text += piece
                yield {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            tokens = loaded.engine.count_tokens(Prompt.text(text)) if text else 0
            reason = "length" if tokens >= params.max_new_tokens else "stop"
            yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
            if include_usage:
                yield {**base, "choices": [], "usage": _usage(prompt_tokens, tokens)}

        return _sse(chunks())
    outs = loaded.submit(Work(adapter, [prompt] * body.n, params)).future.result()
    return {"id": cid, "object": "chat.completion", "created": created, "model": body.model,
            "system_fingerprint": None,
            "choices": [{"index": i, "message": {"role": "assistant", "content": g.text, "refusal": None},
                         "finish_reason": g.finish_reason, "logprobs": None} for i, g in enumerate(outs)],
            "usage": _usage(prompt_tokens, sum(g.completion_tokens for g in outs))}


@router.post("/completions")
def completions(request: Request, body: CompletionRequest):
    texts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
    prompts = [Prompt.text(t) for t in texts]
    loaded, adapter, params = _run(request, body, prompts, body.max_tokens)
    cid, created = f"cmpl-{secrets.token_hex(12)}", int(time.time())
    engine = loaded.engine_for(adapter)
    prompt_tokens = sum(engine.count_tokens(p) for p in prompts)
    if body.stream:
        if len(prompts) != 1 or body.n != 1:
            raise APIError(400, "stream: true takes one prompt and n = 1 on anytune serve.", param="prompt")

        def chunks():
            base = {"id": cid, "object": "text_completion", "created": created, "model": body.model}
            for piece in _stream_pieces(loaded, adapter, prompts[0], params):
                yield {**base, "choices": [{"index": 0, "text": piece, "finish_reason": None, "logprobs": None}]}
            yield {**base, "choices": [{"index": 0, "text": "", "finish_reason": "stop", "logprobs": None}]}

        return _sse(chunks())
    expanded = [p for p in prompts for _ in range(body.n)]
    outs = loaded.submit(Work(adapter, expanded, params)).future.result()
    return {"id": cid, "object": "text_completion", "created": created, "model": body.model,
            "choices": [{"index": i, "text": g.text, "finish_reason": g.finish_reason, "logprobs": None}
                        for i, g in enumerate(outs)],
            "usage": _usage(prompt_tokens, sum(g.completion_tokens for g in outs))}


@router.delete("/models/{model_id:path}")
def delete_model(request: Request, model_id: str):
    config, db = request.app.state.config, request.app.state.db
    if model_id in config.models:
        raise APIError(403, f"The model '{model_id}' is a base model of this server and cannot be deleted.",
                       param="model", code="model_not_deletable")
    if db.model(model_id) is None:
        raise APIError(404, f"The model '{model_id}' does not exist", param="model", code="model_not_found")
    db.delete_model(model_id)
    request.app.state.models.forget(model_id)
    return {"id": model_id, "object": "model", "deleted": True}
