"""The shared provider contract, against moto's server over HTTP. moto runs no container, so
``finish_job`` plays SageMaker (conftest.play_container). Cancel is covered in test_follow.py with
botocore's Stubber: moto's server does not implement StopTrainingJob (it answers HTTP 500)."""

from __future__ import annotations

import pytest

from anytune.testing.contract import ProviderContract


class TestSageMakerContract(ProviderContract):
    poll_timeout = 30.0
    cancel_in_contract = False
    cancel_in_contract_reason = ("moto's server does not implement StopTrainingJob (HTTP 500); "
                                 "cancel is tested with botocore's Stubber in test_follow.py")

    # The contract's fixtures, given by this package's conftest (moto account, tiny model and data).
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
        return lambda handle, provider: container(handle.remote_id)

    @pytest.mark.slow  # finish_job trains the tiny model
    def test_full_lifecycle(self, provider, spec, prepared, finish_job, job_id, tmp_path):
        super().test_full_lifecycle(provider, spec, prepared, finish_job, job_id, tmp_path)
