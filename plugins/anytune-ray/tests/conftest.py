"""A real Ray cluster on 127.0.0.1 for the Ray provider's tests: `ray start --head` with 2 CPUs and the
dashboard (the Jobs API), started once per session and stopped after it."""

from __future__ import annotations

import os
import shutil
import signal
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
    # --block: this process owns the cluster; ending its process group stops exactly this cluster (never
    # `ray stop`, which would stop every Ray on the machine)
    cmd = [str(RAY), "start", "--head", "--block", "--num-cpus=2", "--num-gpus=0", f"--port={port}",
           "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
           "--include-dashboard=true", f"--temp-dir={temp}", "--object-store-memory=200000000",
           "--disable-usage-stats"]
    log = open(temp / "ray-start.log", "w")  # open for the cluster's lifetime
    head = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{address}/api/version", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("ray start --head did not come up:\n"
                                         + (temp / "ray-start.log").read_text()[-3000:]) from None
                time.sleep(1)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def storage(tmp_path):
    return tmp_path / "ray-storage"
