"""Azurite (Microsoft's Blob storage emulator, from npm) on 127.0.0.1, in memory, for the tests.

Found at ``$AZURITE_BIN``, else ``azurite-blob`` on PATH, else the install line's folder:

    npm install --prefix ~/.cache/anytune-azurite azurite@3

When it is missing the tests are skipped with that line, or fail when ``CI`` is set.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

INSTALL = "npm install --prefix ~/.cache/anytune-azurite azurite@3"
ACCOUNT = "devstoreaccount1"  # Azurite's well-known development account and key (public, not a secret)
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTENING = re.compile(r"listens on (http://127\.0\.0\.1:\d+)")


def find_binary() -> str | None:
    candidates = [os.environ.get("AZURITE_BIN"), shutil.which("azurite-blob"),
                  str(Path.home() / ".cache/anytune-azurite/node_modules/.bin/azurite-blob")]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


def require_binary() -> str:
    binary = find_binary()
    if binary is None:
        message = f"Azurite is not installed: {INSTALL} (or set AZURITE_BIN)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


class Azurite:
    def __init__(self, binary: str, timeout: float = 60):
        self.process = subprocess.Popen(
            [binary, "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence", "--extentMemoryLimit",
             "512", "--disableTelemetry", "--skipApiVersionCheck", "--loose"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        found = threading.Event()
        self.output: list[str] = []
        self.endpoint = ""

        def read():
            for line in self.process.stdout:
                self.output.append(line.rstrip())
                m = _LISTENING.search(line)
                if m and not found.is_set():
                    self.endpoint = f"{m[1]}/{ACCOUNT}"
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(timeout):
            self.stop()
            raise RuntimeError("Azurite did not start:\n" + "\n".join(self.output[-20:]))

    def service(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(self.endpoint, credential={"account_name": ACCOUNT, "account_key": KEY})

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
