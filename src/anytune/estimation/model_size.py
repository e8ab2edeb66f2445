"""How big a base model is — parameters and shape — without loading weights or importing transformers.

Where the answer comes from, best first (``ModelSize.source`` says which):
1. a local model folder: ``config.json``, and the exact parameter count from the safetensors headers
   (the first 8 bytes give the header length; the JSON header lists every tensor's shape);
2. the same files in the local Hugging Face cache (``HF_HUB_CACHE``), never downloaded;
3. a small table of well-known Hugging Face models (shapes copied from their config.json files);
4. a size in the name ("...-7B", "0.5b", "135M"), with the shape of the nearest well-known model
   scaled to it — labelled a guess.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError

_GATED = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3",
          "gemma3_text", "phi3", "olmo", "olmo2", "granite", "smollm3", "cohere", "starcoder2_gated", "internlm2"}


@dataclass(frozen=True)
class ModelSize:
    params: int  # all parameters (what memory holds)
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied_embeddings: bool = True
    gated_mlp: bool = True
    experts: int = 1  # MoE experts per layer (1 = dense)
    experts_active: int = 1
    source: str = ""
    exact: bool = False  # True when counted from the weights' headers

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def mlp_params_per_expert(self) -> int:
        return (3 if self.gated_mlp else 2) * self.hidden * self.intermediate

    @property
    def active_params(self) -> int:
        """Parameters one token passes through (MoE: only the routed experts)."""
        idle = (self.experts - self.experts_active) * self.mlp_params_per_expert * self.layers
        return max(self.params - idle, 0)

    @property
    def compute_params(self) -> int:
        """N in the 6·N rule: active parameters that do matmuls. An untied input embedding is a lookup."""
        return self.active_params - (0 if self.tied_embeddings else self.embedding_params)

    def lora_params(self, r: int, target: str | list[str]) -> int:
        """Trainable LoRA parameters: r·(in+out) for each adapted linear layer of every block."""
        h, q, kv, i = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim, self.intermediate
        dims = {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}
        if not self.gated_mlp:
            dims.pop("gate_proj")
        if target == "all-linear":
            names = list(dims)
        elif isinstance(target, str):  # "auto": peft's default targets — attention q and v (GPT-2: fused c_attn)
            names = ["q_proj", "v_proj"] if self.gated_mlp else ["q_proj", "k_proj", "v_proj"]
        else:
            names = [n for n in target if n in dims] or list(dims)
        per_layer = sum(r * (a + b) * (self.experts if n in ("gate_proj", "up_proj", "down_proj") else 1)
                        for n, (a, b) in ((n, dims[n]) for n in names))
        return per_layer * self.layers


def from_config(cfg: dict, source: str = "config.json") -> ModelSize:
    """Shape and parameter count from a Hugging Face config.json (Llama-style and GPT-2-style)."""
    cfg = {**cfg, **(cfg.get("text_config") or {})}  # multimodal wrappers keep the LM under text_config
    g = cfg.get
    hidden = g("hidden_size") or g("n_embd") or g("d_model")
    layers = g("num_hidden_layers") or g("n_layer") or g("num_layers")
    heads = g("num_attention_heads") or g("n_head")
    vocab = g("vocab_size")
    if not all(isinstance(x, int) and x > 0 for x in (hidden, layers, heads, vocab)):
        raise ConfigError(f"{source}: cannot read the model shape (need hidden_size, num_hidden_layers, "
                          "num_attention_heads and vocab_size)")
    kv = g("num_key_value_heads") or heads
    head_dim = g("head_dim") or hidden // heads
    model_type = str(g("model_type", ""))
    gated = model_type in _GATED or (g("hidden_act") in ("silu", "swiglu") and model_type != "gpt2")
    inter = g("intermediate_size") or g("moe_intermediate_size") or g("n_inner") or g("ffn_dim") or 4 * hidden
    experts = g("num_local_experts") or g("num_experts") or 1
    active = g("num_experts_per_tok") or 1
    tied = bool(g("tie_word_embeddings", model_type in ("gpt2",)))
    attn = hidden * heads * head_dim * 2 + hidden * kv * head_dim * 2
    mlp = (3 if gated else 2) * hidden * inter * experts
    per_layer = attn + mlp + 2 * hidden
    positions = (g("n_positions") or 0) * hidden if model_type == "gpt2" else 0
    params = layers * per_layer + vocab * hidden * (1 if tied else 2) + hidden + positions
    return ModelSize(params=int(params), hidden=hidden, layers=layers, heads=heads, kv_heads=kv, head_dim=head_dim,
                     intermediate=inter, vocab=vocab, tied_embeddings=tied, gated_mlp=gated, experts=experts,
                     experts_active=min(active, experts), source=source)


def safetensors_params(folder: Path) -> int | None:
    """Exact parameter count from the headers of the *.safetensors files in ``folder`` (no weights read)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for f in files:
        with f.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > 100_000_000:
                return None
            header = json.loads(fh.read(n))
        for name, meta in header.items():
            if name != "__metadata__":
                total += math.prod(meta["shape"])
    return total


def from_folder(folder: Path) -> ModelSize:
    cfg_path = folder / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{cfg_path}: cannot read the model config: {exc}") from None
    size = from_config(cfg, source=str(cfg_path))
    try:
        exact = safetensors_params(folder)
    except (OSError, ValueError, KeyError, struct.error):
        exact = None
    if exact:
        size = replace(size, params=exact, exact=True, source=f"{cfg_path} + safetensors headers")
    return size


def _hf_cache_folder(model_id: str) -> Path | None:
    root = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(Path.home(), ".cache", "huggingface"), "hub")
    snaps = Path(root) / ("models--" + model_id.replace("/", "--")) / "snapshots"
    if not snaps.is_dir():
        return None
    for snap in sorted(snaps.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        if (snap / "config.json").is_file():
            return snap
    return None


# Shapes copied from each model's config.json on the Hugging Face Hub:
# (hidden, layers, heads, kv_heads, intermediate, vocab, tied, model_type[, head_dim])
_KNOWN: dict[str, tuple] = {
    "gpt2": (768, 12, 12, 12, 3072, 50257, True, "gpt2"),
    "HuggingFaceTB/SmolLM2-135M": (576, 30, 9, 3, 1536, 49152, True, "llama"),
    "HuggingFaceTB/SmolLM2-360M": (960, 32, 15, 5, 2560, 49152, True, "llama"),
    "HuggingFaceTB/SmolLM2-1.7B": (2048, 24, 32, 32, 8192, 49152, True, "llama"),
    "Qwen/Qwen2.5-0.5B": (896, 24, 14, 2, 4864, 151936, True, "qwen2"),
    "Qwen/Qwen2.5-1.5B": (1536, 28, 12, 2, 8960, 151936, True, "qwen2"),
    "Qwen/Qwen2.5-7B": (3584, 28, 28, 4, 18944, 152064, False, "qwen2"),
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": (2048, 22, 32, 4, 5632, 32000, False, "llama"),
    "meta-llama/Llama-3.2-1B": (2048, 16, 32, 8, 8192, 128256, True, "llama", 64),
    "meta-llama/Llama-3.2-3B": (3072, 28, 24, 8, 8192, 128256, True, "llama", 128),
    "meta-llama/Llama-2-7b-hf": (4096, 32, 32, 32, 11008, 32000, False, "llama"),
    "meta-llama/Llama-2-13b-hf": (5120, 40, 40, 40, 13824, 32000, False, "llama"),
    "meta-llama/Llama-3.1-8B": (4096, 32, 32, 8, 14336, 128256, False, "llama"),
    "meta-llama/Meta-Llama-3-8B": (4096, 32, 32, 8, 14336, 128256, False, "llama"),
    "meta-llama/Llama-3.1-70B": (8192, 80, 64, 8, 28672, 128256, False, "llama"),
    "mistralai/Mistral-7B-v0.1": (4096, 32, 32, 8, 14336, 32000, False, "mistral"),
    "mistralai/Mistral-7B-v0.3": (4096, 32, 32, 8, 14336, 32768, False, "mistral"),
    "google/gemma-2-2b": (2304, 26, 8, 4, 9216, 256000, True, "gemma2", 256),
}
_SUFFIX = re.compile(r"(-instruct|-chat|-it)(-hf)?$", re.I)


def _known(model_id: str) -> ModelSize | None:
    want = _SUFFIX.sub("", model_id).lower()
    for name, row in _KNOWN.items():
        if _SUFFIX.sub("", name).lower() == want or name.lower() == model_id.lower():
            h, n_layers, heads, kv, inter, vocab, tied, mtype, *hd = row
            cfg = {"hidden_size": h, "num_hidden_layers": n_layers, "num_attention_heads": heads,
                   "num_key_value_heads": kv, "intermediate_size": inter, "vocab_size": vocab,
                   "tie_word_embeddings": tied, "model_type": mtype, "n_positions": 1024 if mtype == "gpt2" else 0}
            if hd:
                cfg["head_dim"] = hd[0]
            return from_config(cfg, source=f"anytune's table of well-known models ({name})")
    return None


_SIZE_IN_NAME = re.compile(r"(?:(\d+)x)?(\d+(?:\.\d+)?)([bm])(?![a-z])", re.I)


def _from_name(model_id: str) -> ModelSize | None:
    """A guess from a size in the name: the nearest well-known model's shape, widened to that size."""
    match = None
    for m in _SIZE_IN_NAME.finditer(model_id.rsplit("/", 1)[-1]):
        match = m
    if match is None:
        return None
    experts = int(match.group(1) or 1)
    params = float(match.group(2)) * (1e9 if match.group(3).lower() == "b" else 1e6) * experts
    if params < 1e6:
        return None
    ref = min((_known(k) for k in _KNOWN), key=lambda s: abs(math.log(s.params / params)))
    scale = math.sqrt(params / ref.params)  # widen hidden and intermediate; keep depth
    hidden = max(64, int(round(ref.hidden * scale / 64)) * 64)
    guess = replace(ref, hidden=hidden, intermediate=int(ref.intermediate * hidden / ref.hidden),
                    head_dim=hidden // ref.heads, params=int(params),
                    source=f"guessed from the size in the name {model_id!r} (shape scaled from a similar model)")
    return guess


def model_size(base_model: str) -> ModelSize:
    """Parameters and shape of ``base_model`` (a local folder or a Hugging Face id), without loading it."""
    path = Path(base_model).expanduser()
    if path.is_dir():
        return from_folder(path)
    if path.is_file() and path.name == "config.json":
        return from_folder(path.parent)
    if re.fullmatch(r"[\w.-]+(/[\w.-]+)?", base_model):
        cached = _hf_cache_folder(base_model)
        if cached is not None:
            return from_folder(cached)
    size = _known(base_model) or _from_name(base_model)
    if size is None:
        raise ConfigError(
            f"cannot tell the size of base_model {base_model!r}",
            ["give a local model folder with config.json, or a Hugging Face id already in the local cache "
             "(`huggingface-cli download ID` once), or a name that states the size (e.g. ...-7B)"])
    return size
