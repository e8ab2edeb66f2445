"""The shared provider contract, over HTTP: the real Google SDKs against gcp-storage-emulator and the
Vertex AI stand-in, whose running jobs run the trainer as the container would (conftest.play_container)."""

from __future__ import annotations

import pytest

from anytune.testing.contract import ProviderContract


class TestVertexContract(ProviderContract):
    poll_timeout = 120.0
    poll_interval = 0.1

    @pytest.fixture
    def provider(self, provider, container):
        container.hold = False  # jobs start at once and run the trainer
        return provider

    @pytest.fixture
    def spec(self, spec):
        return spec

    @pytest.fixture
    def prepared(self, prepared):
        return prepared

    @pytest.mark.slow  # the job trains the tiny model
    def test_full_lifecycle(self, provider, spec, prepared, finish_job, job_id, tmp_path):
        super().test_full_lifecycle(provider, spec, prepared, finish_job, job_id, tmp_path)
