"""Every optional package, missing: the command that needs it says so in one line naming the extra to
install (exit 2), never with a traceback. Each case runs the real CLI in a fresh interpreter where that
package cannot be imported."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from anytune.optional import EXTRAS
from anytune.testing.imports import run_blocking

ROOT = Path(__file__).resolve().parents[1]
JOB = str(ROOT / "examples" / "quickstart" / "job.yaml")


def _cli(args: list[str], blocked: tuple[str, ...], env):
    code = f"import sys; sys.argv = ['anytune', *{args!r}]\nfrom anytune.cli import main\nmain()\n"
    return run_blocking(code, blocked, env={**env, "COLUMNS": "200"}, timeout=180)


@pytest.fixture
def model_folder(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "metrics.json").write_text(json.dumps({"train": [{"step": 1, "loss": 2.0}], "eval": []}))
    return folder


def cases(folder, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "hi", "completion": "hello"}) + "\n")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(Path(JOB).read_text() + "sweep:\n  parameters: {learning_rate: [1.0e-4, 1.0e-3]}\n"
                     "  strategy: optuna\n  trials: 2\n")
    adapter = tmp_path / "a"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(folder)}))
    return [
        (["serve", "--port", "1"], ("uvicorn",), "serve"),
        (["serve", "--port", "1"], ("fastapi",), "serve"),
        (["report", str(folder), "-o", str(tmp_path / "r.html")], ("matplotlib",), "plot"),
        (["compare", JOB, "--plot", str(tmp_path / "p.png")], ("matplotlib",), "plot"),
        (["eval", str(folder), "--data", str(data)], ("torch",), "local"),
        (["chat", str(folder), "-p", "hi"], ("transformers",), "local"),
        (["export", str(adapter), "--merge"], ("peft", "torch"), "local"),
        (["eval", "m", "--base-url", "http://127.0.0.1:9/v1", "--data", str(data)], ("openai",), "openai"),
        (["data", "validate", str(data), "--pii-engine", "presidio"], ("presidio_analyzer",), "presidio"),
        (["sweep", str(sweep), "--dry-run"], ("optuna",), "sweep"),
    ]


def test_every_optional_package_has_an_extra():
    assert {extra for _, extra in EXTRAS.values()} <= {"local", "plot", "serve", "openai", "sagemaker", "vertex",
                                                       "azureml", "presidio", "sweep", "tracking", "ray"}


@pytest.mark.parametrize("index", range(10))
def test_a_missing_optional_package_is_one_line_naming_the_extra(index, model_folder, tmp_path):
    args, blocked, extra = cases(model_folder, tmp_path)[index]
    r = _cli(args, blocked, dict(os.environ))
    lines = [x for x in r.stderr.splitlines() if x.strip() and not x.startswith("provider:")
             and not x.startswith("skipped")]
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1 and f"pip install 'anytune[{extra}]'" in lines[0], (args, r.stderr)
