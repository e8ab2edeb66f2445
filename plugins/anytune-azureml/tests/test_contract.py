"""The shared provider contract, over HTTP: Azurite for the datastores, the local control plane
(azml_arm.py, https) for the ARM job calls of the real MLClient. No container runs there, so ``finish_job``
plays Azure ML (azml_container.play): the trainer runs under the Azure ML contract and writes the model
into the job's output path in Azurite."""

from __future__ import annotations

import pytest

from anytune.testing.contract import ProviderContract


class TestAzureMLContract(ProviderContract):
    poll_timeout = 30.0
    poll_interval = 0.05

    # The contract's fixtures, given by this package's conftest (Azurite, control plane, tiny model and data).
    @pytest.fixture
    def provider(self, provider):
        return provider

    @pytest.fixture
    def spec(self, spec):
        return spec

    @pytest.fixture
    def prepared(self, prepared):
        return prepared

    @pytest.fixture
    def finish_job(self, container):
        def finish(handle, provider):
            code, output = container(handle.remote_id)
            assert code == 0, "\n".join(output[-40:])

        return finish

    @pytest.mark.slow  # the job trains the tiny model
    def test_full_lifecycle(self, provider, spec, prepared, finish_job, job_id, tmp_path):
        super().test_full_lifecycle(provider, spec, prepared, finish_job, job_id, tmp_path)
