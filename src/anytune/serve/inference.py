"""The models ``anytune serve`` answers with, loaded once and shared, and one worker per loaded model.

- A base alias (``--model alias=path``) loads that folder. A fine-tuned ``ft:`` LoRA model is its adapter put
  onto its base's loaded weights (``load_adapter``), so ten adapters over one base load that base once; a
  full fine-tune is a model of its own.
- Each loaded model has one worker thread. Requests queue there; the worker takes what is waiting (up to
  ``max_batch``), groups requests for the same adapter and parameters, and generates each group as one batch.
  The worker owns the model, so switching adapters between batches is safe, and training (the runner's threads
  and the trainer's own processes) is never blocked by inference.
- The engine is the seam (``--engine``, :mod:`anytune.inference.serving`): transformers by default, vLLM on a
  CUDA machine; nothing here loads a model or an adapter its own way.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..inference import Generation, GenerationParams, Prompt
from .errors import APIError

END = object()  # ends a stream's channel


@dataclass
class Work:
    adapter: str | None
    prompts: list[Prompt]
    params: GenerationParams
    future: Future = field(default_factory=Future)
    stream: queue.Queue | None = None  # streaming: pieces go here, then END (or an exception)


class Loaded:
    """One loaded model, its adapters, and the worker that runs every request for it."""

    def __init__(self, path: Path, label: str, max_batch: int, engine: str = "transformers"):
        from ..inference.serving import load

        self.engine = load(engine, path, label=label, max_batch=max_batch)
        self.adapters: set[str] = set()
        self.max_batch = max_batch
        self.queue: queue.Queue[Work] = queue.Queue()
        self.lock = threading.Lock()  # adapter loading vs generation
        threading.Thread(target=self._serve, daemon=True, name=f"serve-{label}").start()

    def add_adapter(self, name: str, path: Path) -> None:
        with self.lock:
            if name not in self.adapters:
                self.engine.add_adapter(name, path)
                self.adapters.add(name)

    def remove_adapter(self, name: str) -> None:
        with self.lock:
            if name in self.adapters:
                self.engine.remove_adapter(name)
                self.adapters.discard(name)

    def engine_for(self, adapter: str | None):
        return self.engine.answering(adapter)

    def submit(self, work: Work) -> Work:
        self.queue.put(work)
        return work

    def _serve(self) -> None:
        while True:
            first = self.queue.get()
            batch = [first]
            if first.stream is None:
                while len(batch) < self.max_batch:
                    try:
                        nxt = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt.stream is not None:  # a stream runs alone, after this batch
                        self.queue.put(nxt)
                        break
                    batch.append(nxt)
            with self.lock:
                if first.stream is not None:
                    self._stream(first)
                else:
                    self._generate(batch)

    def _generate(self, batch: list[Work]) -> None:
        groups: dict[tuple, list[Work]] = {}
        for w in batch:
            groups.setdefault((w.adapter, w.params), []).append(w)
        for (adapter, params), works in groups.items():
            try:
                prompts = [p for w in works for p in w.prompts]
                outs: list[Generation] = self.engine_for(adapter).generate(prompts, params)
                i = 0
                for w in works:
                    w.future.set_result(outs[i:i + len(w.prompts)])
                    i += len(w.prompts)
            except Exception as exc:  # noqa: BLE001 (handed to the waiting request, which answers 500)
                for w in works:
                    if not w.future.done():
                        w.future.set_exception(exc)

    def _stream(self, work: Work) -> None:
        try:
            for piece in self.engine_for(work.adapter).stream(work.prompts[0], work.params):
                work.stream.put(piece)
            work.stream.put(END)
        except Exception as exc:  # noqa: BLE001
            work.stream.put(exc)


class ModelPool:
    """Model name -> (loaded model, adapter); loads on first use."""

    def __init__(self, config, db, max_batch: int = 16):
        self.config, self.db, self.max_batch = config, db, max_batch
        self.loaded: dict[str, Loaded] = {}  # by the resolved folder of the weights
        self.lock = threading.Lock()

    def _row(self, name: str) -> dict[str, Any]:
        row = self.db.model(name)
        if row is None:
            raise APIError(404, f"The model '{name}' does not exist or you do not have access to it.",
                           param="model", code="model_not_found")
        return row

    def get(self, name: str) -> tuple[Loaded, str | None]:
        """The loaded model that answers for ``name`` and the adapter to use (None: the model itself)."""
        from ..inference.hf import adapter_base, model_kind

        path = Path(self.config.models[name]) if name in self.config.models else Path(self._row(name)["path"])
        if model_kind(path) == "full":
            return self._load(path, name), None
        base = Path(adapter_base(path))
        loaded = self._load(base, next((a for a, p in self.config.models.items() if Path(p) == base), base.name))
        loaded.add_adapter(_adapter_name(name), path)
        return loaded, _adapter_name(name)

    def _load(self, path: Path, label: str) -> Loaded:
        key = str(path.resolve())
        with self.lock:
            if key not in self.loaded:
                self.loaded[key] = Loaded(path, label, self.max_batch, self.config.engine)
            return self.loaded[key]

    def forget(self, name: str) -> None:
        """After DELETE /v1/models/{name}: drop its adapter, or the whole model for a full fine-tune."""
        for key, loaded in list(self.loaded.items()):
            if _adapter_name(name) in loaded.adapters:
                loaded.remove_adapter(_adapter_name(name))
            elif loaded.engine.label == name:
                del self.loaded[key]


def _adapter_name(model: str) -> str:
    """A peft adapter name for a model id (peft names may not hold dots or colons)."""
    return "a_" + "".join(c if c.isalnum() else "_" for c in model)
