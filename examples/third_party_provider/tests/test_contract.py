import pytest
from anytune_spool.provider import SpoolProvider
from worker import drain

from anytune.data import prepare
from anytune.testing.contract import ProviderContract


class TestSpoolContract(ProviderContract):
    @pytest.fixture
    def provider(self, tmp_path):
        return SpoolProvider({"dir": str(tmp_path / "spool")})

    @pytest.fixture
    def spec(self, tiny_spec):
        return tiny_spec("spool")

    @pytest.fixture
    def prepared(self, spec, tmp_path):
        return prepare(spec, tmp_path / "prepared")

    @pytest.fixture
    def finish_job(self, tmp_path):
        return lambda handle, provider: drain(tmp_path / "spool", handle.remote_id)
