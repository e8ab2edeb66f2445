import os
import textwrap

import pytest

# The CLI's rich consoles take their width from $COLUMNS when they are made (at import): fix it here, before
# any test imports the CLI, so that tests read tables whole whatever terminal pytest runs in. A narrow
# terminal is tested on purpose: tests/test_cli_errors.py runs commands at 40 columns.
os.environ["COLUMNS"] = "200"

from anytune import registry
from anytune.testing import fake


@pytest.fixture(autouse=True)
def anytune_home(tmp_path, monkeypatch):
    """Every test gets its own ANYTUNE_HOME and config dir; nothing touches the real ones."""
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANYTUNE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ANYTUNE_RETRY_WAIT", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no test reaches the Hub (base model checks would ask it)
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


_PROVIDER_MODULE = """
from anytune import hookimpl
@hookimpl
def anytune_register_providers(register):
    register("{name}", "{module}:Prov")

from anytune.testing.fake import FakeProvider
class Prov(FakeProvider):
    name = "{name}"
    description = "from {module}"
"""


def _make_dist(root, dist, module, body=None, *, provider=None, entry_points=None):
    """Install a minimal distribution (dist-info + one module) into ``root``, the way pip lays one out.
    ``provider``: the module registers a fake provider of that name; else ``body`` is the module's source.
    ``entry_points``: the entry_points.txt text; default: the module in the ``anytune`` group."""
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points or f"[anytune]\n{dist} = {module}\n")
    source = _PROVIDER_MODULE.format(name=provider, module=module) if provider else textwrap.dedent(body)
    (root / f"{module}.py").write_text(source)


@pytest.fixture
def make_dist():
    return _make_dist
