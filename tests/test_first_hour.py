"""A newcomer's first hour (issue 14): each stumble found by trying the README as a new user, pinned."""

from __future__ import annotations

import json
import os
from pathlib import Path

from anytune.testing.imports import run_blocking

ROOT = Path(__file__).resolve().parents[1]
JOB = str(ROOT / "examples" / "quickstart" / "job.yaml")
SDKS = ("boto3", "botocore", "sagemaker", "google.cloud", "google.auth", "google.api_core", "azure", "openai")


def cli_without_sdks(*args: str) -> object:
    code = f"import sys; sys.argv = ['anytune', *{list(args)!r}]\nfrom anytune.cli import main\nmain()\n"
    return run_blocking(code, SDKS, env={**os.environ, "COLUMNS": "250"}, timeout=180)


def test_compare_shows_all_five_providers_without_any_cloud_sdk():
    r = cli_without_sdks("compare", JOB, "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["providers"]
    assert {row["provider"] for row in rows} == {"local", "sagemaker", "vertex", "azureml", "openai"}
    assert all(row["fits"] for row in rows)


def test_a_missing_sdk_is_named_with_its_install_command_in_providers_and_at_dispatch():
    r = cli_without_sdks("providers", "--check")
    assert r.returncode == 0, r.stderr
    for name in ("sagemaker", "vertex", "azureml", "openai"):
        assert f"pip install 'anytune[{name}]'" in r.stdout, (name, r.stdout)
    r = cli_without_sdks("estimate", JOB, "-p", "sagemaker,local")
    assert r.returncode == 0, r.stderr
    assert "skipped: not ready: the boto3 package is not installed: pip install 'anytune[sagemaker]'" in r.stdout
    r = cli_without_sdks("estimate", JOB, "-p", "sagemaker")
    assert r.returncode == 1 and "pip install 'anytune[sagemaker]'" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
