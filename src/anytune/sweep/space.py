"""The ``sweep:`` block of a job spec and the trials it stands for.

    sweep:
      parameters:
        learning_rate: {log_uniform: [1.0e-5, 3.0e-4]}   # a range: strategy random or optuna
        lora.r: [8, 16, 32]                              # a list: every value (grid) or one of them
        epochs: [2, 3]
      strategy: grid        # grid | random | optuna (TPE, with pruning on intermediate eval losses)
      trials: 8             # random/optuna: how many; grid: all combinations unless fewer are asked for
      metric: eval_loss     # or test_loss, exact_match, token_f1, rouge_l, bleu
      parallel: 2

A parameter is a key path of the spec (``compute.spot``, ``method``); a path that is not a top-level key
is under ``hyperparameters`` (``lora.r`` = ``hyperparameters.lora.r``). A trial's spec is the base spec with
its values set, validated like any spec.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

LOSSES = ("eval_loss", "test_loss")
NOT_SWEPT = ("name", "sweep", "output_dir", "provider_options")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, defer_build=True)


class Range(_Strict):
    """A continuous or integer range to draw from (random, optuna); exactly one key."""

    log_uniform: tuple[float, float] | None = None
    uniform: tuple[float, float] | None = None
    int_uniform: tuple[int, int] | None = None

    @model_validator(mode="after")
    def _one(self):
        given = [(k, v) for k, v in (("log_uniform", self.log_uniform), ("uniform", self.uniform),
                                     ("int_uniform", self.int_uniform)) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of log_uniform, uniform, int_uniform: [low, high]")
        kind, (lo, hi) = given[0]
        if not lo < hi:
            raise ValueError(f"{kind}: low must be below high, got [{lo}, {hi}]")
        if kind == "log_uniform" and lo <= 0:
            raise ValueError("log_uniform: low must be > 0")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("log_uniform", "uniform", "int_uniform") if getattr(self, k) is not None)

    @property
    def bounds(self) -> tuple[float, float]:
        return getattr(self, self.kind)


def spec_path(path: str) -> tuple[str, ...]:
    """The key path in the spec that a parameter name stands for; ValueError naming the valid keys."""
    from ..spec import JobSpec

    parts = tuple(path.split("."))
    if parts[0] not in JobSpec.model_fields:
        parts = ("hyperparameters", *parts)
    if parts[0] in NOT_SWEPT:
        raise ValueError(f"{parts[0]} cannot be swept (each trial gets its own)")
    model: type[BaseModel] | None = JobSpec
    for i, part in enumerate(parts):
        if model is None or part not in model.model_fields:
            known = ", ".join(sorted(model.model_fields)) if model is not None else ""
            where = ".".join(parts[:i]) or "the spec"
            raise ValueError(f"unknown parameter {path!r}: {where} has no key {part!r}"
                             + (f" (keys: {known})" if known else ""))
        ann = model.model_fields[part].annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    if model is not None:
        raise ValueError(f"{path!r} is a section; sweep one of its keys ({', '.join(sorted(model.model_fields))})")
    return parts


def _checked_path(path: str) -> str:
    spec_path(path)
    return path


Values = list[Any] | Range


class SweepSpec(_Strict):
    """Several trials of the spec that differ in the listed parameters, compared on one metric."""

    parameters: dict[Annotated[str, AfterValidator(_checked_path)], Values] = Field(
        min_length=1, description="Parameter path -> a list of values (grid, random, optuna) or a range "
        "{log_uniform|uniform|int_uniform: [low, high]} (random, optuna). A path not at the top level of the "
        "spec is under hyperparameters: lora.r, learning_rate, epochs.")
    strategy: Literal["grid", "random", "optuna"] = "grid"
    trials: int | None = Field(None, ge=1, le=1000, description="random/optuna: how many (default 10); "
                               "grid: the first N combinations (default all).")
    metric: Literal["eval_loss", "test_loss", "exact_match", "token_f1", "rouge_l", "bleu", "judge"] = Field(
        "eval_loss", description="What picks the best trial: a held-out loss or an evaluation metric.")
    direction: Literal["auto", "minimize", "maximize"] = Field("auto", description="auto: minimize a loss, "
                                                               "maximize an evaluation metric.")
    parallel: int = Field(1, ge=1, le=64, description="Trials running at once.")
    seed: int = Field(0, description="Seed of the random and optuna samplers.")

    @model_validator(mode="after")
    def _fits_strategy(self):
        for name, values in self.parameters.items():
            if isinstance(values, Range) and self.strategy == "grid":
                raise ValueError(f"parameter {name!r} is a range: a grid needs a list of values "
                                 "(or use strategy: random or optuna)")
            if isinstance(values, list) and not values:
                raise ValueError(f"parameter {name!r}: give at least one value")
        return self

    @property
    def minimize(self) -> bool:
        return self.metric in LOSSES if self.direction == "auto" else self.direction == "minimize"

    @property
    def count(self) -> int:
        """How many trials the sweep runs."""
        if self.strategy == "grid":
            combos = math.prod(len(v) for v in self.parameters.values())
            return min(combos, self.trials or combos)
        return self.trials or 10

    def better(self, a: float, b: float) -> bool:
        return a < b if self.minimize else a > b


def planned(sweep: SweepSpec) -> list[dict[str, Any]]:
    """The trials' parameter sets known before any runs: every grid combination, or the random draw
    (seeded). An optuna sweep's trials depend on the scores; this draw stands in for its estimate."""
    names = list(sweep.parameters)
    if sweep.strategy == "grid":
        combos = itertools.product(*(sweep.parameters[n] for n in names))
        return [dict(zip(names, c, strict=True)) for c in itertools.islice(combos, sweep.count)]
    import numpy as np

    rng = np.random.default_rng(sweep.seed)
    return [{n: _draw(rng, sweep.parameters[n]) for n in names} for _ in range(sweep.count)]


def _draw(rng, values: Values) -> Any:
    if isinstance(values, list):
        return values[int(rng.integers(len(values)))]
    lo, hi = values.bounds
    if values.kind == "int_uniform":
        return int(rng.integers(lo, hi + 1))
    x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if values.kind == "log_uniform" else rng.uniform(lo, hi)
    return float(f"{x:.3g}")  # 1.23e-04, not 0.000123456789: a value people can read and type again


def distributions(sweep: SweepSpec) -> dict[str, Any]:
    """Optuna's distribution for each parameter."""
    import optuna

    out = {}
    for name, values in sweep.parameters.items():
        if isinstance(values, list):
            out[name] = optuna.distributions.CategoricalDistribution(values)
        elif values.kind == "int_uniform":
            out[name] = optuna.distributions.IntDistribution(*values.bounds)
        else:
            out[name] = optuna.distributions.FloatDistribution(*values.bounds, log=values.kind == "log_uniform")
    return out


def trial_spec(spec, params: dict[str, Any], *, output_dir: str, budget: float | None = None):
    """The base spec with ``params`` set, without its sweep block, validated like a new spec."""
    from ..spec import JobSpec

    data = spec.model_dump(mode="python", exclude={"sweep"})
    for name, value in params.items():
        *parents, leaf = spec_path(name)
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    data["output_dir"] = output_dir
    data["budget"] = {**data["budget"], "max_usd": budget}
    return JobSpec.model_validate(data)


def label(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def problems(spec) -> list[tuple[tuple, str]]:
    """(key path, message) for each swept value the spec would reject, and a metric the spec cannot
    produce: found when the job file is read, with the line of the value, not when the trial launches."""
    from pydantic import ValidationError

    sweep = spec.sweep
    out: list[tuple[tuple, str]] = []
    if sweep.metric not in LOSSES and not spec.evaluation.enabled:
        out.append((("sweep", "metric"), f"{sweep.metric} comes from the generation evaluation, which "
                                         "evaluation.enabled: false turns off"))
    for name, values in sweep.parameters.items():
        items = list(enumerate(values)) if isinstance(values, list) else [(values.kind, b) for b in values.bounds]
        for index, value in items:
            try:
                trial_spec(spec, {name: value}, output_dir=spec.output_dir)
            except ValidationError as exc:
                msg = "; ".join(e["msg"] for e in exc.errors())
                out.append((("sweep", "parameters", name, index), f"{name} = {value!r}: {msg}"))
    return out
