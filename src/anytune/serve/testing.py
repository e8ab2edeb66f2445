"""Start ``anytune serve`` on 127.0.0.1 for tests: in a thread (fast, same process) or as a real
subprocess (the way users run it; can be stopped and started again on the same state)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEST_KEY = "sk-anytune-test-0123456789abcdef"


@contextmanager
def serve_thread(config) -> Iterator[str]:
    """Run the app for ``config`` with uvicorn in a thread; yields the base URL (``http://127.0.0.1:P/v1``)."""
    import uvicorn

    from . import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("anytune serve did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def wait_job(client, job_id: str, timeout: float = 300):
    """Poll a fine-tuning job through the openai client until it ends (or ``timeout`` passes); the last state."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """``python -m anytune.serve`` in a subprocess with its own ANYTUNE_HOME; ``stop()`` then ``start()``
    restarts it on the same port and state."""

    def __init__(self, home: Path, *, models: dict[str, Path], key: str = TEST_KEY, args: tuple[str, ...] = ()):
        self.home, self.models, self.key, self.args = Path(home), models, key, args
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = self.home / "serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 60) -> ServeProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ANYTUNE_HOME": str(self.home), "ANYTUNE_CONFIG_DIR": str(self.home / "config"),
               "ANYTUNE_SERVE_API_KEYS": self.key, "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "anytune.serve", "--port", str(self.port), *self.args]
        for alias, path in self.models.items():
            cmd += ["--model", f"{alias}={path}"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"anytune serve did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 30) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
