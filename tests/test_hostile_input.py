"""Hostile input at the edge: each is refused at once with one message naming the file and what to do,
exit 2, no traceback; nothing is half written."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anytune.errors import ConfigError, DataError
from anytune.spec import load_spec
from anytune.store import JobStore

BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x, x]"]
                 + [f"{c}: &{c} [{', '.join(['*' + p] * 10)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)])


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANYTUNE_HOME": str(tmp_path / "home"), "ANYTUNE_CONFIG_DIR": str(tmp_path / "config"),
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "anytune.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.parametrize("text, says", [
    (BOMB, "expands to more than 100,000 values"),
    ("a:\n" + "".join("  " * i + f"  k{i}:\n" for i in range(80)) + "  " * 81 + "v: 1\n", "nested deeper than 64"),
    ("x: " + "[" * 5000 + "]" * 5000, "nested deeper than 64"),
    ("name: " + "x" * (2 << 20), "larger than 1024 KiB"),
    ("name: [unclosed\n", "not valid YAML"),
])
def test_a_hostile_spec_is_refused_quickly_with_the_file(tmp_path, text, says):
    spec = tmp_path / "job.yaml"
    spec.write_text(text)
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_spec(spec)
    elapsed = time.perf_counter() - start
    assert says in str(info.value) and str(spec) in str(info.value), str(info.value)
    assert elapsed < 5, f"took {elapsed:.1f} s"  # a bound against hanging, not a benchmark


def test_a_device_is_named_as_what_it_is():
    with pytest.raises(ConfigError, match="/dev/zero: is a special file"):
        load_spec("/dev/zero")
    from anytune.data.load import discover

    with pytest.raises(DataError, match="is a character device, not a data file"):
        discover("/dev/zero")


def test_an_unreadable_job_store_is_one_message_and_is_left_as_it_was(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    store = home / "jobs.sqlite"
    junk = b"this is not a database, " * 200
    store.write_bytes(junk)
    for args in (["jobs"], ["status", "x"]):
        r = cli(tmp_path, *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert f"the job store {store} cannot be read" in r.stderr and "mv " in r.stderr, r.stderr
    assert store.read_bytes() == junk, "nothing may be changed: the user keeps the file"
    with pytest.raises(ConfigError, match="cannot be read"):
        JobStore(store).list()


def test_the_cli_refuses_a_yaml_bomb_in_one_line(tmp_path):
    spec = tmp_path / "job.yaml"
    spec.write_text(BOMB)
    r = cli(tmp_path, "estimate", str(spec))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "a YAML bomb?" in r.stderr, r.stderr
