"""Fixtures: Azurite (blob storage) and a local Azure ML control plane on 127.0.0.1, a workspace made of
both (fresh containers per test), the provider pointed at them, a tiny model with data, and ``container``,
which plays Azure ML running a job (see azml_container.py)."""

from __future__ import annotations

import itertools
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the stand-ins beside this file

from azml_arm import ArmServer, FakeCredential, self_signed_certificate  # noqa: E402
from azml_azurite import KEY, Azurite, require_binary  # noqa: E402
from azml_container import play  # noqa: E402

from anytune.spec import JobSpec  # noqa: E402

SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
WORKSPACE = {"subscription_id": SUBSCRIPTION, "resource_group": "rg-anytune", "workspace": "ws-anytune"}


def pytest_collection_modifyitems(config, items):
    """azure-ai-ml's schemas use marshmallow APIs marshmallow deprecates: hundreds of warnings per run
    that say nothing about anytune. Silenced for this package's tests only."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:azure.ai.ml"))
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:marshmallow"))


@pytest.fixture(scope="session")
def azurite():
    server = Azurite(require_binary())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def arm(azurite, certificate, monkeypatch, tmp_path):
    """A control plane whose datastores are two fresh Azurite containers; the SDKs are pointed at both."""
    tag = uuid.uuid4().hex[:10]
    containers = {"workspaceblobstore": f"azureml-blobstore-{tag}", "workspaceartifactstore": f"azureml-{tag}"}
    service = azurite.service()
    for name in containers.values():
        service.create_container(name)
    server = ArmServer(workspace=WORKSPACE["workspace"], account="devstoreaccount1", containers=containers,
                       certificate=certificate)
    monkeypatch.setenv("AZUREML_DEV_URL_MFE", server.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    monkeypatch.setenv("AZURE_STORAGE_KEY", KEY)
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANYTUNE_CONFIG_DIR", str(tmp_path / "config"))
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    yield server
    server.close()


@pytest.fixture
def blobs(azurite, arm):
    """The test's own view of the datastores: datastore name -> ContainerClient."""
    service = azurite.service()
    return {store: service.get_container_client(c) for store, c in arm.containers.items()}


@pytest.fixture
def options(azurite, arm):
    return {**WORKSPACE, "blob_endpoint": azurite.endpoint, "prefix": "teams/ml", "max_attempts": 2}


@pytest.fixture
def make_provider(options):
    from anytune_azureml.provider import AzureMLProvider

    return lambda **more: AzureMLProvider({**options, **more}, credential=FakeCredential())


@pytest.fixture
def provider(make_provider):
    return make_provider()


@pytest.fixture
def spec(tiny_spec) -> JobSpec:
    return tiny_spec("azureml")


@pytest.fixture
def spec_with(tiny_spec):
    """``spec_with(spot=True, gpu_count=2)``: the test spec with other compute settings."""
    return lambda **compute: tiny_spec("azureml", **compute)


@pytest.fixture
def prepared(spec, tmp_path):
    from anytune.data import prepare

    return prepare(spec, tmp_path / "prepared")


@pytest.fixture
def container(arm, azurite, tmp_path):
    """``container(job_name) -> (exit status, output lines)``: Azure ML runs the job (azml_container.play)."""
    counter = itertools.count()
    return lambda name, **kw: play(arm, name, service=azurite.service(), root=tmp_path / f"container-{next(counter)}",
                                   **kw)
