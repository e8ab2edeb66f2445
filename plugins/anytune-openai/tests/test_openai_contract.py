"""The shared provider contract, with the OpenAI provider pointed at ``anytune serve`` on 127.0.0.1: the
real openai SDK, real HTTP, a real (tiny) training behind it."""

from __future__ import annotations

import pytest
from anytune_openai.provider import OpenAIProvider

from anytune.data import prepare
from anytune.spec import DataSpec, Hyperparameters, JobSpec
from anytune.testing.contract import ProviderContract
from anytune.testing.tiny_model import write_tiny_data


@pytest.fixture
def tiny_spec(tiny, tmp_path):
    files = write_tiny_data(tmp_path / "source", train=24, validation=8, test=0)
    return JobSpec(name="contract", base_model=str(tiny), provider="openai",
                   data=DataSpec(train=str(files["train"]), validation=str(files["validation"]), test="none"),
                   hyperparameters=Hyperparameters(epochs=1, batch_size=4))


@pytest.mark.slow
class TestOpenAIContract(ProviderContract):
    poll_interval = 0.3
    poll_timeout = 240

    @pytest.fixture
    def provider(self, serve_options):
        return OpenAIProvider(serve_options)

    @pytest.fixture
    def spec(self, tiny_spec):
        return tiny_spec

    @pytest.fixture
    def prepared(self, spec, tmp_path):
        return prepare(spec, tmp_path / "data")
