"""Canaries: credentials with recognisable values are set, the failure paths run through the real CLI (a
local trainer that fails, SageMaker and OpenAI endpoints that cannot be reached, a fallback from one to the
other), and none of the values may appear in stdout, stderr, the job store, logs or run folders."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("anytune_local")
QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart"
CANARIES = {
    "AWS_ACCESS_KEY_ID": "AKIACANARY0000000001", "AWS_SECRET_ACCESS_KEY": "canary-aws-secret-3f9a1c",
    "AWS_SESSION_TOKEN": "canary-aws-session-77aa", "OPENAI_API_KEY": "sk-canary-openai-51be",
    "AZURE_CLIENT_SECRET": "canary-azure-secret-90cd", "HF_TOKEN": "hf_canaryhubtoken0c2e",
    "ANYTUNE_SERVE_API_KEYS": "canary-serve-key-0123456789",
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spec(tmp_path: Path, provider, base_model: str) -> Path:
    rows = (QUICKSTART / "support_tickets.csv").read_text().splitlines()[:61]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    port = _closed_port()
    spec = {"name": "canary", "base_model": base_model, "provider": provider, "method": "full",
            "data": {"train": str(tmp_path / "t.csv"), "columns": {"prompt": "question", "completion": "answer"},
                     "format": "chat", "validation": "none", "test": "none", "split": [1.0, 0.0, 0.0]},
            "hyperparameters": {"epochs": 1, "batch_size": 8, "max_seq_length": 32},
            "evaluation": {"enabled": False}, "output_dir": str(tmp_path / "runs" / "{job_id}"),
            "provider_options": {
                "sagemaker": {"endpoint_url": f"http://127.0.0.1:{port}", "region": "us-east-1",
                              "bucket": "canary-bucket", "role_arn": "arn:aws:iam::123456789012:role/canary"},
                "openai": {"base_url": f"http://127.0.0.1:{port}/v1"}}}
    path = tmp_path / f"{provider if isinstance(provider, str) else '-'.join(provider)}.yaml"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.slow
def test_no_failure_path_leaks_a_credential(tmp_path):
    broken = tmp_path / "broken-model"  # a model folder the trainer cannot load: a failure inside the trainer
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
                                                    "num_attention_heads": 4, "vocab_size": 128}))
    env = {**os.environ, **CANARIES, "ANYTUNE_HOME": str(tmp_path / "home"),
           "ANYTUNE_CONFIG_DIR": str(tmp_path / "config"), "HF_HUB_OFFLINE": "1", "ANYTUNE_RETRY_WAIT": "0"}
    outputs = []
    for provider, model in (("local", str(broken)), ("sagemaker", str(QUICKSTART / "model")),
                            ("openai", "gpt-4o-mini-2024-07-18"), (["sagemaker", "openai", "local"], str(broken))):
        for command in (["run", "-y", "-q"], ["estimate"], ["submit", "--dry-run"]):
            r = subprocess.run([sys.executable, "-m", "anytune.cli", command[0], str(_spec(tmp_path, provider, model)),
                                *command[1:]], capture_output=True, text=True, env=env, timeout=300)
            outputs.append((provider, command[0], r.returncode, r.stdout + r.stderr))
    assert any(code != 0 for *_, code, _ in outputs), "the failure paths must have been taken"
    assert any(p == "local" and c == "run" and code == 1 for p, c, code, _ in outputs), outputs
    leaks = [(p, c, name) for p, c, _, text in outputs for name, value in CANARIES.items() if value in text]
    written = [f for f in (tmp_path / "home").rglob("*") if f.is_file()] + list((tmp_path / "runs").rglob("*"))
    leaks += [(str(f), "file", name) for f in written if f.is_file()
              for name, value in CANARIES.items() if value.encode() in f.read_bytes()]
    assert leaks == []
    assert len(written) > 3, "the store and the job folder were written and searched"
    assert list((tmp_path / "home" / "jobs").glob("*/trainer.log")), "the local trainer ran and failed"
