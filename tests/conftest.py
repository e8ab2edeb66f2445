import pytest

from anytune import registry
from anytune.testing import fake


@pytest.fixture(autouse=True)
def anytune_home(tmp_path, monkeypatch):
    """Every test gets its own ANYTUNE_HOME and config dir; nothing touches the real ones."""
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANYTUNE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ANYTUNE_RETRY_WAIT", "0")
    monkeypatch.delenv("ANYTUNE_PROVIDER", raising=False)
    monkeypatch.delenv("ANYTUNE_PROFILE", raising=False)
    yield tmp_path / "home"
    registry.reset()


@pytest.fixture
def with_fake():
    """The registry with the installed plugins plus the in-memory fake provider (registered through the hook)."""
    fake.reset()
    reg = registry.load(extra_plugins=(fake,))
    registry.reset(reg)
    yield reg
    fake.reset()
    registry.reset()
