"""A real Ray cluster on 127.0.0.1 for the Ray provider's tests: `ray start --head` with 2 CPUs and the
dashboard (the Jobs API), started once per session and stopped after it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from anytune.testing.tiny_model import build_tiny_model

RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster():
    """The Jobs API address of a 2-CPU Ray head on this machine."""
    if not RAY.exists():
        pytest.skip("ray is not installed (pip install 'anytune[ray]')")
    temp = Path(tempfile.mkdtemp(prefix="rayt-", dir="/tmp"))  # short: Ray's unix sockets live under it
    port, dashboard = _free_port(), _free_port()
    # the cluster's `python` (a Ray job's entrypoint runs on its PATH) is this interpreter, with anytune's deps
    env = {**os.environ, "PATH": f"{RAY.parent}{os.pathsep}{os.environ.get('PATH', '')}", "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [str(RAY), "start", "--head", "--num-cpus=2", "--num-gpus=0", f"--port={port}",
           "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
           "--include-dashboard=true", f"--temp-dir={temp}", "--object-store-memory=200000000",
           "--disable-usage-stats"]
    started = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{address}/api/version", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    yield address
    subprocess.run([str(RAY), "stop", "--force"], capture_output=True, env=env, timeout=120)
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def storage(tmp_path):
    return tmp_path / "ray-storage"
