"""The local provider passes the shared provider contract, with data from the real pipeline."""

from __future__ import annotations

import pytest
from anytune_local.provider import LocalProvider

from anytune.spec import JobSpec
from anytune.testing.contract import ProviderContract
from anytune.testing.tiny_model import write_tiny_data


@pytest.mark.slow
class TestLocalContract(ProviderContract):
    poll_timeout = 180.0

    @pytest.fixture
    def provider(self):
        return LocalProvider({"device": "cpu"})

    @pytest.fixture
    def spec(self, tmp_path, tiny_model):
        files = write_tiny_data(tmp_path / "raw", train=96, validation=0, test=0)
        return JobSpec(name="contract", base_model=str(tiny_model), data={"train": str(files["train"])},
                       method="lora", hyperparameters={"epochs": 1, "batch_size": 8, "learning_rate": 3e-2})

    @pytest.fixture
    def prepared(self, spec, tmp_path):
        from anytune.data import prepare

        return prepare(spec, tmp_path / "prepared")
