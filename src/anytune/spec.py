"""The provider-neutral job spec: loaded from YAML (errors carry the YAML path and line) or built in Python."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .defaults import DEFAULT_PROVIDER
from .errors import ConfigError
from .sweep.space import SweepSpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, defer_build=True)


class DataSpec(_Strict):
    """Where the training data is and how to read it."""

    train: str = Field(description="File or directory of shards (CSV, TSV, JSON, JSONL, XLSX, Parquet).")
    validation: str = Field("auto", description="A file, or 'auto' to split it off train.")
    test: str = Field("auto", description="A file, 'auto' to split it off train, or 'none'.")
    split: tuple[float, float, float] = Field((0.8, 0.1, 0.1), description="train/validation/test fractions for 'auto'.")
    format: Literal["auto", "chat", "prompt_completion", "text", "preference"] = "auto"
    columns: dict[str, str] = Field(default_factory=dict, description="Canonical field -> column in the file, e.g. {prompt: question}.")
    system_prompt: str | None = Field(None, description="System message added when converting prompt/completion to chat.")
    label_column: str | None = Field(None, description="Column to stratify the split by.")
    pii: Literal["off", "redact", "fail"] = "redact"
    pii_patterns: dict[str, str] = Field(default_factory=dict, description="Extra PII regexes: placeholder name -> pattern.")
    pii_engine: Literal["patterns", "presidio"] = Field("patterns", description="presidio adds person names and "
                                                        "places (NER; pip install 'anytune[presidio]').")
    pii_model: str | None = Field(None, description="spaCy pipeline for pii_engine: presidio: an installed package "
                                  "(default en_core_web_lg) or a folder.")
    too_long: Literal["truncate", "drop", "fail"] = Field("truncate", description="Policy for examples over max_seq_length tokens.")

    @field_validator("split")
    @classmethod
    def _split_sums_to_one(cls, v: tuple[float, float, float]):
        if any(x < 0 for x in v) or abs(sum(v) - 1.0) > 1e-6 or v[0] <= 0:
            raise ValueError("fractions must be >= 0, train > 0, and sum to 1")
        return v


class LoraSpec(_Strict):
    r: int = Field(8, ge=1, le=1024)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["auto", "all-linear"] = "auto"


class Hyperparameters(_Strict):
    epochs: float = Field(3, gt=0, le=100)
    learning_rate: float = Field(5e-5, gt=0, lt=1)
    batch_size: int = Field(16, ge=1, le=4096)
    gradient_accumulation: int = Field(1, ge=1, le=1024)
    max_seq_length: int = Field(1024, ge=8, le=1_048_576)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    lora: LoraSpec = Field(default_factory=LoraSpec)
    seed: int = 42
    eval_steps: int | None = Field(None, ge=1, description="Evaluate (and checkpoint) every N steps as well as "
                                   "each epoch.")
    checkpoint_weights_only: bool = Field(
        False, description="Intermediate checkpoints hold the weights only, not the optimizer state, schedule "
        "and RNG: about a third of the size for full fine-tuning (Adam's two fp32 moments are left out); a resume "
        "keeps the weights and starts the optimizer and the learning-rate schedule again.")
    loss: Literal["auto", "full", "chunked"] = Field(
        "auto", description="How the loss meets the vocabulary: chunked computes the logits of 1/8 of the tokens "
        "at a time (far less memory for large vocabularies, same loss); auto = chunked when one batch's fp32 "
        "logits would pass 0.5 GB. The estimate plans the same.")
    packing: bool = Field(False, description="Concatenate each batch's examples into one row without padding "
                          "(position ids keep them apart; same loss, no compute spent on padding).")
    compile: bool = Field(False, description="torch.compile the model (Transformers' torch_compile, inductor): "
                          "a compile pause at the start, then faster steps on a GPU. The estimate does not "
                          "count on it (no measured factor yet).")
    liger: bool = Field(False, description="Liger's Triton kernels (Transformers' use_liger_kernel: fused "
                        "RMSNorm, RoPE, SwiGLU and a linear cross-entropy that never holds the whole logits): "
                        "less memory and faster steps on CUDA GPUs, for the architectures Liger patches "
                        "(Llama, Qwen, Mistral, Gemma, ...). Needs `pip install 'anytune[liger]'`; not on CPU. "
                        "The estimate plans its logits memory, not a speed-up (none measured yet).")
    beta: float = Field(0.1, gt=0, le=10, description="objective: dpo: how far the tuned model may move from the "
                        "reference (TRL's DPO beta).")

    @model_validator(mode="after")
    def _one_loss(self):
        if self.liger and self.loss == "chunked":
            raise ValueError("liger: true computes the loss with Liger's fused linear cross-entropy, which "
                             "already never holds the whole logits: leave loss at auto (or full), or set liger: false")
        return self


class ComputeSpec(_Strict):
    gpu: str | None = Field(None, description="GPU type, e.g. A10G, L4, A100-80GB, H100; none = cheapest that fits.")
    min_gpu_memory_gb: float | None = Field(None, gt=0)
    gpu_count: int = Field(1, ge=1, le=64, description="GPUs per machine (node).")
    nodes: int = Field(1, ge=1, le=64, description="Machines that train together, each with gpu_count GPUs "
                       "(torchrun across them), on a provider that claims multi_node (`anytune providers`). The "
                       "estimate prices nodes × the instance and counts the network between them.")
    strategy: Literal["auto", "ddp", "fsdp", "deepspeed_zero3"] = Field(
        "auto", description="How several training processes share the work: ddp = each holds the whole model "
        "and they average gradients; fsdp = weights, gradients and optimizer states are sharded across them "
        "(PyTorch FSDP through accelerate, GPUs only); deepspeed_zero3 = the same sharding by DeepSpeed ZeRO "
        "stage 3 (`pip install 'anytune[deepspeed]'`; also on CPU processes); auto = ddp when the run fits one "
        "GPU, else fsdp (the memory model of the estimate decides). One process: ignored.")
    spot: bool = False
    max_hours: float = Field(24, gt=0, description="Hard limit on training time.")


class BudgetSpec(_Strict):
    max_usd: float | None = Field(None, ge=0, description="Refuse to launch, and stop a running job, beyond this.")


METRICS = ("exact_match", "token_f1", "rouge_l", "bleu")


class EvaluationSpec(_Strict):
    """Generation evaluation at the end of training: the tuned model (and the base) answer held-out prompts,
    scored against the references."""

    enabled: bool = Field(True, description="Generate and score after training (needs prompt/completion or chat data).")
    split: Literal["auto", "test", "validation"] = Field("auto", description="auto = test, else validation.")
    max_examples: int = Field(200, ge=1, le=100_000, description="Score the first N examples of the split.")
    max_new_tokens: int = Field(256, ge=1, le=32_768)
    metrics: list[Literal["exact_match", "token_f1", "rouge_l", "bleu"]] = Field(
        default_factory=lambda: list(METRICS), min_length=1)
    decoding: Literal["greedy", "sample"] = "greedy"
    temperature: float = Field(0.7, gt=0, le=2, description="With decoding: sample.")
    top_p: float = Field(1.0, gt=0, le=1, description="With decoding: sample.")
    compare_base: bool = Field(True, description="Also generate with the base model and compare.")
    batch_size: int = Field(16, ge=1, le=1024, description="Prompts generated together.")


class MlflowTracking(_Strict):
    tracking_uri: str = Field(description="The MLflow tracking server (http://host:5000, databricks) or store "
                              "(file:, sqlite:). Credentials come from MLFLOW_TRACKING_TOKEN or "
                              "MLFLOW_TRACKING_USERNAME/PASSWORD in the environment, never from the spec.")
    experiment: str | None = Field(None, description="Experiment name; default: the job's name (a sweep's "
                                   "trials share it).")

    @field_validator("tracking_uri")
    @classmethod
    def _no_credentials(cls, v: str):
        from urllib.parse import urlsplit

        if urlsplit(v).password or urlsplit(v).username:
            raise ValueError("the URI carries credentials: put them in MLFLOW_TRACKING_USERNAME and "
                             "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) instead")
        return v


class WandbTracking(_Strict):
    project: str = Field(min_length=1, max_length=128)
    entity: str | None = None
    mode: Literal["online", "offline"] = Field("online", description="offline: write the run under the job's "
                                               "logs (wandb sync uploads it later). The key is WANDB_API_KEY.")


class TrackingSpec(_Strict):
    """Experiment trackers the trainer logs to through transformers' own callbacks (parameters, loss curves),
    plus the held-out losses and the generation evaluation at the end. TensorBoard event files are always
    written next to the job."""

    mlflow: MlflowTracking | None = None
    wandb: WandbTracking | None = None


class ChooseSpec(_Strict):
    choose: Literal["cheapest"] = "cheapest"
    candidates: list[str] = Field(min_length=1)


ProviderChoice = str | list[str] | ChooseSpec


class JobSpec(_Strict):
    """A fine-tuning job, independent of where it runs."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    base_model: str = Field(description="Hugging Face model id or local path.")
    data: DataSpec
    method: Literal["full", "lora", "qlora"] = Field("lora", description="Which parameters train.")
    objective: Literal["sft", "dpo"] = Field("sft", description="sft: learn the answers (prompt/completion, chat); "
                                             "dpo: prefer chosen over rejected answers (preference data, TRL).")
    init_adapter: str | None = Field(None, description="Continue from a tuned model: a LoRA adapter folder trained "
                                     "on base_model. lora/qlora train that adapter further (its LoRA settings win); "
                                     "full merges it first. Providers that train on this machine only.")
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    compute: ComputeSpec = Field(default_factory=ComputeSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    provider: ProviderChoice = Field(DEFAULT_PROVIDER, description="A name, a fallback list, or {choose: cheapest, candidates: [...]}.")
    provider_options: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per-provider settings, validated by each provider.")
    output_dir: str = Field("runs/{name}/{job_id}", description="Where the trained model goes; {name} and {job_id} are replaced.")
    sweep: SweepSpec | None = Field(None, description="Run several trials of this spec (`anytune sweep`): "
                                    "parameters to vary, strategy, trials, metric, parallel.")

    @field_validator("provider")
    @classmethod
    def _provider_names(cls, v):
        names = [v] if isinstance(v, str) else v.candidates if isinstance(v, ChooseSpec) else v
        if not names:
            raise ValueError("give at least one provider")
        for n in names:
            if not n or not n.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"{n!r} is not a provider name")
        return v

    # --- derived ---------------------------------------------------------------------------

    @property
    def candidates(self) -> list[str]:
        p = self.provider
        return [p] if isinstance(p, str) else list(p.candidates if isinstance(p, ChooseSpec) else p)

    @property
    def choose_cheapest(self) -> bool:
        return isinstance(self.provider, ChooseSpec)

    def output_path(self, job_id: str) -> Path:
        return Path(self.output_dir.replace("{name}", self.name).replace("{job_id}", job_id))

    def options_for(self, provider: str) -> dict[str, Any]:
        return dict(self.provider_options.get(provider, {}))

    def spec_hash(self) -> str:
        """Stable hash of everything that defines the job."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def with_provider(self, provider: ProviderChoice) -> JobSpec:
        return self.updated(provider=provider)

    def updated(self, **changes: Any) -> JobSpec:
        """A copy with top-level fields replaced, validated like a new spec."""
        return type(self).model_validate({**self.model_dump(), **changes})


# --- loading -------------------------------------------------------------------------------


def _yaml_lines(root) -> dict[tuple, int]:
    """Map each key path of a composed YAML document to its 1-based line number."""
    import yaml

    lines: dict[tuple, int] = {}

    def walk(node, path):
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                lines[path + (key,)] = k.start_mark.line + 1
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return lines


def _locate(loc: tuple, lines: dict[tuple, int]) -> int | None:
    path = loc
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def problems_from(exc: ValidationError, lines: dict[tuple, int] | None = None, source: str = "") -> list[str]:
    out = []
    seen = set()
    for e in exc.errors():
        loc = tuple(e["loc"])
        # A union reports one error per branch; keep the first per location.
        clean = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("str", "ChooseSpec"))))
        if clean in seen:
            continue
        seen.add(clean)
        dotted = ".".join(str(p) for p in clean) or "(top level)"
        where = _where(source, _locate(clean, lines or {}))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `anytune schema` lists the valid keys)"
        out.append(f"{where}{dotted}: {msg}")
    return out


def parse_spec(data: Any, *, source: str = "<spec>", lines: dict[tuple, int] | None = None) -> JobSpec:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a job spec must be a mapping of keys, got {type(data).__name__}")
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid job spec {source}", problems_from(exc, lines, source), source) from None
    if spec.sweep is not None:
        from .sweep.space import problems

        found = [f"{_where(source, _locate(loc, lines or {}))}{'.'.join(map(str, loc))}: {msg}"
                 for loc, msg in problems(spec)]
        if found:
            raise ConfigError(f"invalid job spec {source}", found, source)
    return spec


def _where(source: str, line: int | None) -> str:
    return f"{source}:{line}: " if source and line else (f"{source}: " if source else "")


def load_spec(path: str | Path) -> JobSpec:
    """Read and validate a job file. Relative data and model paths are resolved against the file's folder
    when they exist there; the output dir against the current directory."""
    from . import bounded_yaml

    p = Path(path)
    try:
        text = bounded_yaml.read(p, "job file")
    except FileNotFoundError:
        raise ConfigError(f"job file not found: {p}", ["create one with `anytune init`"]) from None
    data, root = bounded_yaml.load(text, str(p))
    lines = _yaml_lines(root)
    spec = parse_spec(data, source=str(p), lines=lines)
    return _resolve_paths(spec, p.parent)


def _resolve_paths(spec: JobSpec, base: Path) -> JobSpec:
    def fix(value: str) -> str:
        """Absolute path of an existing file or folder: next to the job file first, else from the current
        directory; anything else (a hub id, a file that does not exist) is left for later checks to judge."""
        if value in ("auto", "none") or Path(value).is_absolute():
            return value
        for candidate in (base / value, Path(value)):
            if candidate.exists():
                return str(candidate.absolute())
        return value

    data = spec.data.model_copy(update={k: fix(getattr(spec.data, k)) for k in ("train", "validation", "test")})
    # The output dir is relative to where the user runs anytune, fixed now so later processes agree.
    out = str(Path(spec.output_dir).expanduser().absolute())
    update: dict[str, Any] = {"data": data, "base_model": fix(spec.base_model), "output_dir": out}
    if spec.init_adapter:
        update["init_adapter"] = fix(spec.init_adapter)
    return spec.model_copy(update=update)


def json_schema() -> dict[str, Any]:
    schema = JobSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "anytune job spec"
    return schema
