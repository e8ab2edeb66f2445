"""Run Python code in a fresh interpreter where some modules cannot be imported (proves lazy imports)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = ("torch", "transformers", "peft", "accelerate", "boto3", "botocore", "sagemaker",
         "google.cloud.aiplatform", "google.cloud.storage", "azure.ai.ml", "azure.storage.blob", "openai", "ray")

_BLOCKER = '''
import sys
BLOCKED = {blocked!r}
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        for b in BLOCKED:
            if name == b or name.startswith(b + "."):
                # What a missing package raises (ModuleNotFoundError, with its name), so the test sees what a user would
                raise ModuleNotFoundError(f"blocked import of {{name}} (anytune must import it lazily)", name=name)
        return None
sys.meta_path.insert(0, _Blocker())
'''


def run_blocking(code: str, blocked: tuple[str, ...] = HEAVY, env: dict | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` with ``blocked`` modules made unimportable; returns the completed process."""
    program = _BLOCKER.format(blocked=tuple(blocked)) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          env=env, timeout=timeout)
