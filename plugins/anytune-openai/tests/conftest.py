"""Fixtures: a private ANYTUNE_HOME per test, a tiny model, and ``anytune serve`` (a real subprocess on
127.0.0.1, training with anytune's local trainer) as the OpenAI-compatible endpoint the SDK talks to."""

from __future__ import annotations

import pytest

from anytune import registry
from anytune.serve.testing import ServeProcess
from anytune.spec import DataSpec, Hyperparameters, JobSpec
from anytune.testing.tiny_model import build_tiny_model, write_tiny_data

KEY_ENV = "ANYTUNE_TEST_SERVE_KEY"


@pytest.fixture(autouse=True)
def anytune_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANYTUNE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ANYTUNE_RETRY_WAIT", "0")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "AZURE_OPENAI_API_KEY",
                 "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_AD_TOKEN", "OPENAI_API_VERSION", "ANYTUNE_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path / "home"
    registry.reset()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="session")
def serve(tmp_path_factory, tiny):
    with ServeProcess(tmp_path_factory.mktemp("serve"), models={"tiny": tiny},
                      args=("--poll-seconds", "0.3")) as server:
        yield server


@pytest.fixture
def serve_options(serve, monkeypatch):
    """Provider options pointing the OpenAI provider at anytune serve (the key comes from the environment)."""
    monkeypatch.setenv(KEY_ENV, serve.key)
    return {"base_url": serve.url, "api_key_env": KEY_ENV, "model": "tiny", "max_retries": 0}


@pytest.fixture
def serve_spec(tiny, tmp_path, serve_options):
    """A job for the OpenAI provider at anytune serve: the tiny model on 24 + 8 examples."""
    files = write_tiny_data(tmp_path / "source", train=24, validation=8, test=0)
    return JobSpec(name="support-bot", base_model=str(tiny), provider="openai",
                   provider_options={"openai": {**serve_options, "suffix": "helpdesk"}},
                   data=DataSpec(train=str(files["train"]), validation=str(files["validation"]), test="none"),
                   hyperparameters=Hyperparameters(epochs=1, batch_size=4), output_dir=str(tmp_path / "out"))
