"""One error printer for every command (anytune.cli_errors): each command family, run as a user runs it,
fails with one unwrapped line on stderr (then the error's own "  - " hints, if any), its exit code and no traceback, whatever the terminal's width."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

from anytune.cli_errors import App

LONG = "/tmp/" + "a-rather-long-folder-name/" * 4 + "job.yaml"
CASES = {  # command -> (exit code, what the line must say)
    "run": (["run", LONG], 2, LONG),
    "estimate": (["estimate", LONG], 2, LONG),
    "data": (["data", "validate", LONG], 2, LONG),
    "profile": (["profile", "show", "no-such-profile"], 2, "no-such-profile"),
    "pricing": (["pricing", "show", "--provider", "no-such-provider"], 2, "no-such-provider"),
    "serve": (["serve", "--method", "sideways"], 2, "sideways"),
    "eval": (["eval", LONG], 2, LONG),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_command_family_reports_an_error_the_same_way(name, tmp_path):
    args, code, says = CASES[name]
    env = {**os.environ, "COLUMNS": "40", "ANYTUNE_HOME": str(tmp_path / "home"),
           "ANYTUNE_CONFIG_DIR": str(tmp_path / "config")}
    r = subprocess.run([sys.executable, "-m", "anytune.cli", *args], capture_output=True, text=True, env=env,
                       timeout=120)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("error: ") and says in lines[0], lines  # not wrapped at 40 columns
    assert all(line.startswith("  - ") for line in lines[1:]), lines  # then only the error's own hints


def test_every_command_app_is_one_that_reports_errors_this_way():
    for module, attr in (("cli", "app"), ("cli_data", "app"), ("cli_profile", "app"), ("cli_cost", "pricing_app"),
                         ("cli_openai", "app"), ("cli_serve", "app")):
        assert isinstance(getattr(importlib.import_module(f"anytune.{module}"), attr), App), module


def test_json_output_reports_the_error_as_json(tmp_path):
    r = subprocess.run([sys.executable, "-m", "anytune.cli", "data", "validate", LONG, "--json"],
                       capture_output=True, text=True, timeout=120)
    import json

    assert r.returncode == 2 and json.loads(r.stdout)["ok"] is False and LONG in json.loads(r.stdout)["error"]
