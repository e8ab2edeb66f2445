"""Where a spec's ``base_model`` is, found before anything launches: a local model folder, a Hugging Face id in
this machine's cache, or a Hub id that must be downloaded (reachable or not). No torch or transformers import;
the cache is looked up on disk in the Hub's own layout (``models--ORG--NAME/snapshots/*/config.json``)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class BaseModel:
    kind: str  # "folder" | "cached" | "hub"
    where: str  # the folder, or the cache snapshot, or the id


def hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                                            / "huggingface")
    return Path(home) / "hub"


def locate(base_model: str) -> BaseModel:
    """The base model's kind and place; ConfigError (exit 2) when it cannot be a model at all: a path that does
    not exist, a folder without config.json, or text that is neither a path nor a Hub id."""
    path = Path(base_model).expanduser()
    looks_like_path = path.is_absolute() or base_model.startswith((".", "~")) or base_model.count("/") > 1
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"base_model {base_model} is a file, not a model folder",
                              ["give the folder holding config.json and the weights"])
        if not (path / "config.json").is_file():
            raise ConfigError(f"base_model {base_model} holds no config.json, so it is not a model folder",
                              ["give a folder written by save_pretrained (config.json, *.safetensors, tokenizer)"])
        return BaseModel("folder", str(path))
    if looks_like_path or not _HUB_ID.match(base_model):
        raise ConfigError(f"base_model {base_model}: no such folder, and not a Hugging Face model id",
                          ["give a local model folder, or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct"])
    snapshots = hub_cache() / f"models--{base_model.replace('/', '--')}" / "snapshots"
    cached = sorted(snapshots.glob("*/config.json")) if snapshots.is_dir() else []
    if cached:
        return BaseModel("cached", str(cached[-1].parent))
    return BaseModel("hub", base_model)


def check_adapter(folder: str) -> None:
    """ConfigError unless ``folder`` (a spec's ``init_adapter``) holds a LoRA adapter."""
    path = Path(folder).expanduser()
    if not (path / "adapter_config.json").is_file():
        what = "does not exist" if not path.exists() else "holds no adapter_config.json"
        raise ConfigError(f"init_adapter {folder} {what}, so it is not a LoRA adapter",
                          ["give the folder of a LoRA job's trained model (`anytune retrieve JOB -o DIR`)"])


def hub_reachable(model_id: str, timeout: float = 3.0) -> str | None:
    """None when the Hub answers for ``model_id`` from this machine, else why not (offline mode, no network,
    not found or gated). One HTTPS request with a short timeout."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "HF_HUB_OFFLINE is set"
    import urllib.error
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    request = urllib.request.Request(f"{endpoint}/api/models/{model_id}", method="HEAD")
    token = os.environ.get("HF_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        urllib.request.urlopen(request, timeout=timeout).close()  # noqa: S310 (https endpoint, fixed path)
        return None
    except urllib.error.HTTPError as exc:
        return {401: "the Hub wants a token (gated or private: set HF_TOKEN)", 403: "access denied (gated: accept "
                "its license and set HF_TOKEN)", 404: "the Hub has no such model"}.get(exc.code, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError) as exc:
        return f"{endpoint} cannot be reached ({getattr(exc, 'reason', exc)})"
