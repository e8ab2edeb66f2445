"""Any OpenAI-compatible chat endpoint as an engine: OpenAI itself (``ft:`` models), Azure OpenAI, vLLM,
``anytune serve``. Requests go through the official ``openai`` client (imported when an engine is made);
its errors become anytune's (:mod:`anytune.openai_errors`), and the key is never part of a message."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..openai_errors import translate
from .engine import Generation, GenerationParams, Prompt


def client(base_url: str | None, api_key_env: str = "OPENAI_API_KEY", *, timeout: float = 120, max_retries: int = 2):
    """An ``openai.OpenAI`` client for ``base_url`` (None = OpenAI), its key read from ``$api_key_env``."""
    from ..optional import require

    require("openai")
    import openai

    key = os.environ.get(api_key_env)
    if not key and base_url is None:
        from ..errors import AuthError

        raise AuthError(f"no OpenAI API key: set ${api_key_env}", provider="chat", operation="connect")
    # Local endpoints often need no key; the SDK insists on one, so send a placeholder rather than none.
    key = key or "no-key"
    return openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries)


class ChatAPIEngine:
    def __init__(self, model: str, api, *, label: str | None = None, concurrency: int = 4,
                 where: str = "chat endpoint"):
        self.model, self.api, self.label = model, api, label or model
        self.concurrency, self.where = concurrency, where

    def _request(self, prompt: Prompt, params: GenerationParams) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": [dict(m) for m in prompt.messages],
                                "max_tokens": params.max_new_tokens, "temperature": params.temperature,
                                "top_p": params.top_p}
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        return body

    def _one(self, prompt: Prompt, params: GenerationParams) -> Generation:
        with translate("generate", self.where):
            reply = self.api.chat.completions.create(**self._request(prompt, params))
        choice = reply.choices[0]
        usage = reply.usage
        return Generation(text=(choice.message.content or "").strip(),
                          prompt_tokens=usage.prompt_tokens if usage else 0,
                          completion_tokens=usage.completion_tokens if usage else 0,
                          finish_reason=choice.finish_reason or "stop")

    def generate(self, prompts: list[Prompt], params: GenerationParams,
                 on_progress: Callable[[int], None] | None = None) -> list[Generation]:
        def work(p: Prompt) -> Generation:
            g = self._one(p, params)
            if on_progress:
                on_progress(1)
            return g

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(work, prompts))

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[str]:
        with translate("generate", self.where):
            for chunk in self.api.chat.completions.create(**self._request(prompt, params), stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
