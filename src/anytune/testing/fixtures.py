"""pytest fixtures shipped with anytune (registered through the ``pytest11`` entry point), so every
provider's tests — ours and third parties' — build the same tiny model, data and spec in one way.

    def test_something(tiny_spec):
        spec = tiny_spec("myprovider", spot=True)     # LoRA on the tiny model, the tiny data splits
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ..spec import JobSpec
from .tiny_model import build_tiny_model, write_tiny_data


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny Llama-shaped model with its own tokenizer, built offline once per session."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> dict[str, Path]:
    """train/validation/test JSONL files of a few dozen chat examples."""
    return write_tiny_data(tmp_path_factory.mktemp("data"))


def make_tiny_spec(provider: str, model: Path | str, data: dict[str, Path], **compute) -> JobSpec:
    return JobSpec(name="support-bot", base_model=str(model),
                   data={"train": str(data["train"]), "validation": str(data["validation"]), "test": str(data["test"])},
                   method="lora", provider=provider, compute=compute or {},
                   hyperparameters={"epochs": 1, "batch_size": 8, "max_seq_length": 128, "learning_rate": 3e-2},
                   evaluation={"max_new_tokens": 16})


def with_hyperparameters(spec: JobSpec, **hp) -> JobSpec:
    """``spec`` with these hyperparameters changed (``with_hyperparameters(spec, epochs=2)``)."""
    return JobSpec.model_validate({**spec.model_dump(), "hyperparameters": {**spec.hyperparameters.model_dump(), **hp}})


@pytest.fixture
def tiny_spec(tiny_model, tiny_data) -> Callable[..., JobSpec]:
    """``tiny_spec("sagemaker", spot=True)``: a LoRA job on the tiny model for that provider."""
    return lambda provider, **compute: make_tiny_spec(provider, tiny_model, tiny_data, **compute)
