"""The Ray provider passes the shared provider contract against a real local Ray cluster: the Jobs API
takes the job, Ray Train runs anytune's trainer on 2 CPU workers (gloo), and the model comes back verified."""

from __future__ import annotations

import pytest
from anytune_ray.provider import RayProvider

from anytune.spec import JobSpec
from anytune.testing.contract import ProviderContract
from anytune.testing.tiny_model import write_tiny_data


@pytest.mark.slow
class TestRayContract(ProviderContract):
    poll_timeout = 300.0
    poll_interval = 1.0

    @pytest.fixture
    def provider(self, ray_cluster, storage):
        return RayProvider({"address": ray_cluster, "storage_path": str(storage), "workers": 2, "use_gpu": False})

    @pytest.fixture
    def spec(self, tmp_path, tiny_model):
        files = write_tiny_data(tmp_path / "raw", train=64, validation=0, test=0)
        return JobSpec(name="contract", base_model=str(tiny_model), data={"train": str(files["train"])},
                       method="lora", hyperparameters={"epochs": 1, "batch_size": 4, "learning_rate": 3e-2})

    @pytest.fixture
    def prepared(self, spec, tmp_path):
        from anytune.data import prepare

        return prepare(spec, tmp_path / "prepared")
