"""Fixtures: gcp-storage-emulator on 127.0.0.1, the Vertex AI / OAuth / Cloud Logging stand-in
(``stand_in.py``), Application Default Credentials pointing at it, a bucket, a tiny model with data,
and ``play_container``, which does what Vertex AI and its training container do for a job."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from anytune.spec import JobSpec

PROJECT = "anytune-test"
_spec = importlib.util.spec_from_file_location("anytune_vertex_stand_in", Path(__file__).with_name("stand_in.py"))
stand_in = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = stand_in
_spec.loader.exec_module(stand_in)


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    port = stand_in.free_port()
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("gcp-storage-emulator")), "start",
                                 "--host", "127.0.0.1", "--port", str(port), "--in-memory"],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"gcp-storage-emulator did not start: {log.read_text()}")
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def vertex():
    """The stand-in for Vertex AI, OAuth and Cloud Logging. Jobs stay QUEUED (``hold``) unless a test
    releases them or sets ``hold = False``; a running job runs ``vertex.runner``."""
    server = stand_in.StandIn()
    server.hold = True
    yield server
    server.close()


SERVICE_ACCOUNT = f"trainer@{PROJECT}.iam.gserviceaccount.com"


@pytest.fixture(scope="session")
def service_key():
    """An RSA key for the test's service account (its private half goes into the ADC file)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(autouse=True)
def google_env(tmp_path, monkeypatch, gcs_emulator, vertex, service_key):
    """ADC = a service-account key file whose token endpoint is the stand-in; no gcloud config, no
    metadata server; Cloud Storage at the emulator (STORAGE_EMULATOR_HOST)."""
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANYTUNE_CONFIG_DIR", str(tmp_path / "config"))
    from cryptography.hazmat.primitives import serialization

    pem = service_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    vertex.service_accounts[SERVICE_ACCOUNT] = service_key.public_key()
    adc = tmp_path / "adc.json"
    adc.write_text(json.dumps({"type": "service_account", "project_id": PROJECT, "private_key_id": "k1",
                               "private_key": pem, "client_email": SERVICE_ACCOUNT,
                               "client_id": "1", "token_uri": f"{vertex.url}/token"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    for name in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_QUOTA_PROJECT", "CLOUDSDK_CORE_PROJECT", "GCLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    # google-auth looks up a service account's "regional access boundary" at iamcredentials.googleapis.com
    # in a background thread after each token refresh. That host is not a stand-in and must never be
    # called from tests (it also raced the scripted token responses). It is Google-side policy that
    # anytune does not use, so the lookup is switched off here; every request anytune makes still goes
    # through the real SDKs to the stand-ins.
    from google.auth import credentials as google_credentials

    monkeypatch.setattr(google_credentials.CredentialsWithRegionalAccessBoundary,
                        "_is_regional_access_boundary_lookup_required", lambda self: False)


def storage_client():
    """The tests' own Cloud Storage client (anonymous, at the emulator)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project=PROJECT, credentials=AnonymousCredentials())


@pytest.fixture
def gcs():
    return storage_client()


@pytest.fixture
def bucket(gcs):
    name = f"anytune-test-{uuid.uuid4().hex[:8]}"
    gcs.create_bucket(name)
    return name


@pytest.fixture
def options(bucket, vertex):
    return {"project": PROJECT, "location": "us-central1", "staging_bucket": f"gs://{bucket}", "prefix": "teams/ml",
            "api_endpoint": vertex.url, "logging_endpoint": vertex.url, "max_attempts": 2}


@pytest.fixture
def provider(options):
    from anytune_vertex.provider import VertexProvider

    return VertexProvider(options)


@pytest.fixture
def spec(tiny_spec) -> JobSpec:
    return tiny_spec("vertex")


@pytest.fixture
def spec_with(tiny_spec):
    """``spec_with(spot=True, max_hours=4)``: the test spec with other compute settings."""
    return lambda **compute: tiny_spec("vertex", **compute)


@pytest.fixture
def prepared(spec, tmp_path):
    from anytune.data import prepare

    return prepare(spec, tmp_path / "prepared")


# --- playing Vertex AI and its training container ---------------------------------------------------


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("gs://").partition("/")
    return bucket, key


def play_container(job, cancelled: threading.Event, log, root: Path, extra_env: dict[str, str] | None = None) -> int:
    """What Vertex AI does for a CustomJob's worker: mount the bucket at /gcs (here ``root/gcs``, a copy
    of the bucket whose new and changed files are written back when the container exits: a stand-in for
    Cloud Storage FUSE), set the
    AIP_* variables from ``baseOutputDirectory``, run the container's command and args (here with the
    mount's real path in place of ``gs://`` and ``/gcs/``), send its output to Cloud Logging, and stop it
    with SIGTERM on cancel. Returns the exit status."""
    pool = job.job_spec.worker_pool_specs[0]
    container = pool.container_spec
    base = job.job_spec.base_output_directory.output_uri_prefix
    bucket_name, _ = _split(base)
    mount = root / "gcs"
    gcs = storage_client()
    started = time.time()
    for blob in gcs.list_blobs(bucket_name):
        target = mount / bucket_name / blob.name
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))

    def local(value: str) -> str:  # gs://b/x and /gcs/b/x -> <mount>/b/x
        return re.sub(r"gs://|(?<![\w.-])/gcs/", lambda _: f"{mount}/", value)

    # No PYTHONDONTWRITEBYTECODE: the bundle's __pycache__ then shows which anytune ran.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_", "PYTHONDONTWRITEBYTECODE"))}
    env.update({e.name: local(e.value) for e in container.env})
    env.update({
        "AIP_MODEL_DIR": local(base + "model/"), "AIP_CHECKPOINT_DIR": local(base + "checkpoints/"),
        "AIP_TENSORBOARD_LOG_DIR": local(base + "logs/"), "CLOUD_ML_JOB_ID": job.name.rsplit("/", 1)[-1],
        "CLOUD_ML_PROJECT_ID": PROJECT,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # the container's python3
        "PIP_NO_INDEX": "1",  # the image has the requirements; nothing may be downloaded here
        "TMPDIR": str(root / "tmp"), "CUDA_VISIBLE_DEVICES": "",
        **(extra_env or {}),
    })
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    command = [local(c) for c in (*container.command, *container.args)]
    proc = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    stopper = threading.Thread(target=lambda: cancelled.wait() and proc.poll() is None
                               and os.killpg(proc.pid, signal.SIGTERM), daemon=True)
    stopper.start()
    with open(root / "container.log", "w") as saved:  # for reading after a failed test
        for line in proc.stdout:
            saved.write(line)
            log(line)
    rc = proc.wait()
    bucket = gcs.bucket(bucket_name)
    written = mount / bucket_name
    for path in sorted(p for p in written.rglob("*") if p.is_file() and p.stat().st_mtime >= started - 1):
        bucket.blob(path.relative_to(written).as_posix()).upload_from_filename(str(path))
    return rc


@pytest.fixture
def container(vertex, tmp_path):
    """Make running jobs run the trainer as Vertex AI's container would (see :func:`play_container`);
    ``vertex.container_env`` is added to the next containers' environment."""
    counter = iter(range(1000))
    vertex.container_env = {}
    vertex.runner = lambda job, cancelled, log: play_container(job, cancelled, log, tmp_path / f"container-{next(counter)}",
                                                               vertex.container_env)
    return vertex
