"""Measured local throughput (`anytune calibrate`), kept in ``<ANYTUNE_HOME>/calibration.json``.

A measurement is stored as achieved TFLOP/s per GPU (tokens/s x training FLOPs per token / GPUs), so a
figure measured with one model carries over to another model on the same GPU and method.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import paths
from ..errors import ConfigError


@dataclass(frozen=True)
class Calibration:
    gpu: str  # hardware catalog name, or "CPU"
    gpu_count: int
    method: str
    base_model: str
    tokens_per_second: float
    tflops_per_gpu: float
    measured_at: str  # ISO date-time
    source: str  # the metrics file it came from


def calibration_path() -> Path:
    return paths.home() / "calibration.json"


def load_all() -> list[Calibration]:
    path = calibration_path()
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [Calibration(**row) for row in rows]
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: unreadable calibration file ({exc}); delete it and run `anytune calibrate`") from None


def record(cal: Calibration) -> Path:
    path = calibration_path()
    rows = [asdict(c) for c in load_all()] + [asdict(cal)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def lookup(gpu: str, method: str) -> Calibration | None:
    """The latest measurement for this GPU and method, else for this GPU with any method."""
    rows = [c for c in load_all() if c.gpu == gpu]
    same = [c for c in rows if c.method == method]
    pick = same or rows
    return max(pick, key=lambda c: c.measured_at) if pick else None


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def from_metrics(metrics: dict, *, source: str, gpu: str | None, gpu_count: int = 1) -> Calibration:
    """A calibration from the trainer's metrics.json (tokens_per_second, base_model, method, ...)."""
    from .hardware import CPU, gpu_or_unknown
    from .model_size import model_size
    from .workload import flops_per_token

    tps = metrics.get("tokens_per_second")
    if not isinstance(tps, int | float) or tps <= 0:
        raise ConfigError(f"{source}: no tokens_per_second in it (was the run finished?)")
    method = metrics.get("method")
    base = metrics.get("base_model")
    if method not in ("full", "lora", "qlora") or not isinstance(base, str):
        raise ConfigError(f"{source}: needs 'method' and 'base_model' (written by anytune's trainer)")
    hw = gpu_or_unknown(gpu)[0] if gpu else CPU  # an unknown GPU is recorded under the name it was given
    examples = (metrics.get("examples") or {}).get("train") or 0
    runtime, epochs = metrics.get("train_runtime_s") or 0, metrics.get("epochs") or 0
    context = tps * runtime / (examples * epochs) if examples and epochs else 0.0
    try:
        per_token = flops_per_token(model_size(base), method, context)
    except ConfigError:
        params = metrics.get("total_parameters")
        if not params:
            raise
        per_token = (6 if method == "full" else 4) * params  # model folder gone: parameters from the run
    count = max(gpu_count, 1) if gpu else 1
    return Calibration(gpu=hw.name, gpu_count=count, method=method, base_model=base, tokens_per_second=float(tps),
                       tflops_per_gpu=tps * per_token / count / 1e12, measured_at=now_iso(), source=source)
