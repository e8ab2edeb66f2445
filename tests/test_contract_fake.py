"""The in-memory provider passes the shared contract too (it stands in for real providers in core tests)."""

from __future__ import annotations

import pytest

from anytune.spec import JobSpec
from anytune.testing import fake
from anytune.testing.contract import ProviderContract
from anytune.testing.tiny_model import write_tiny_data


class TestFakeContract(ProviderContract):
    poll_interval = 0.0

    @pytest.fixture
    def provider(self):
        fake.reset()
        yield fake.FakeProvider()
        fake.reset()

    @pytest.fixture
    def spec(self, tmp_path):
        files = write_tiny_data(tmp_path / "raw", train=40, validation=0, test=0)
        return JobSpec(name="contract", base_model="tiny", data={"train": str(files["train"])}, provider="fake")

    @pytest.fixture
    def prepared(self, spec, tmp_path):
        from anytune.data import prepare

        return prepare(spec, tmp_path / "prepared")
