from __future__ import annotations

import pytest

from anytune.data.pipeline import PreparedData
from anytune.spec import JobSpec
from anytune.testing.tiny_model import build_tiny_model, write_tiny_data
from anytune.types import DataStats, SplitStats


@pytest.fixture(autouse=True)
def anytune_home(tmp_path, monkeypatch):
    """Each test gets its own ANYTUNE_HOME (inherited by the processes it starts)."""
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANYTUNE_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "home"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _make_spec(model, train, method, **hp) -> JobSpec:
    hyper = {"epochs": 2, "batch_size": 8, "learning_rate": 3e-3, **hp}
    return JobSpec(name="tiny", base_model=str(model), data={"train": str(train)}, method=method,
                   hyperparameters=hyper, provider="local")


def _hand_prepared(folder, **sizes) -> PreparedData:
    """Canonical splits written directly (independent of the data pipeline), with simple stats."""
    files = write_tiny_data(folder, **sizes)
    stats = DataStats(splits={k: SplitStats(examples=sum(1 for _ in open(p)), tokens=30 * sum(1 for _ in open(p)))
                              for k, p in files.items()}, approximate=True)
    return PreparedData(directory=folder, content_hash="0" * 64, format="chat", files=files, stats=stats,
                        redaction={}, warnings=())


@pytest.fixture
def make_job(tmp_path, tiny_model):
    """make_job(**hyperparameters) -> (spec, prepared) on the tiny model and tiny support data."""
    def make(method="full", sizes=None, **hp):
        prepared = _hand_prepared(tmp_path / "prepared", **(sizes or {}))
        spec = _make_spec(tiny_model, prepared.files["train"], method, **hp)
        return spec, prepared
    return make
