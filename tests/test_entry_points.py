"""The entry-point cache: a second process reads it instead of scanning, and any change to what is
installed on sys.path is seen by the next process. Real dist-info folders, fresh interpreters."""

import json
import os
import subprocess
import sys

from anytune import entry_points

PROBE = """
import json, os, sys
from anytune import entry_points, registry
from anytune.entry_points import skip_pydantic_plugin_scan
skip_pydantic_plugin_scan()
print(json.dumps({"names": registry.load().names(), "pydantic": [f.name for f in entry_points.group("pydantic")],
                  "disabled": os.environ.get("PYDANTIC_DISABLE_PLUGINS")}))
"""


def probe(root, **env):
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(root), **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cached_names(group="anytune"):
    data = json.loads(entry_points.cache_file().read_text())
    return [row[0] for row in data["groups"][group]]


def test_the_cache_is_written_then_used_and_an_install_invalidates_it(tmp_path, make_dist):
    site = tmp_path / "site"
    make_dist(site, "alpha-prov", "alpha_prov", provider="alpha")
    first = probe(site)
    assert "alpha" in first["names"] and "alpha-prov" in cached_names()
    probe(site)  # importing alpha_prov may have written site/__pycache__, a change of the folder: cached again

    # The second process believes the cache: proven by editing it (never done in real use).
    data = json.loads(entry_points.cache_file().read_text())
    data["groups"]["anytune"] = [r for r in data["groups"]["anytune"] if r[0] != "alpha-prov"]
    entry_points.cache_file().write_text(json.dumps(data))
    assert "alpha" not in probe(site)["names"]

    # Installing a distribution changes the folder's mtime, so the next process scans again.
    make_dist(site, "beta-prov", "beta_prov", provider="beta")
    again = probe(site)
    assert {"alpha", "beta"} <= set(again["names"])
    assert {"alpha-prov", "beta-prov"} <= set(cached_names())


def test_a_corrupt_or_unwritable_cache_costs_only_a_scan(tmp_path, make_dist):
    site = tmp_path / "site"
    make_dist(site, "alpha-prov", "alpha_prov", provider="alpha")
    entry_points.cache_file().parent.mkdir(parents=True)
    entry_points.cache_file().write_text("{not json")
    assert "alpha" in probe(site)["names"]
    assert "alpha-prov" in cached_names()

    home = tmp_path / "not-a-dir"
    home.write_text("a file where ANYTUNE_HOME should be a folder")
    assert "alpha" in probe(site, ANYTUNE_HOME=str(home))["names"]


def test_pydantic_plugins_are_switched_off_only_when_none_is_installed(tmp_path, make_dist):
    site = tmp_path / "site"
    make_dist(site, "alpha-prov", "alpha_prov", provider="alpha")
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
                          env={**env, "PYTHONPATH": str(site)})
    out = json.loads(proc.stdout)
    assert out["pydantic"] == [] and out["disabled"] == "__all__"

    make_dist(site, "pyd-plugin", "pyd_plugin", "def new_schema_validator(*a, **k):\n    return None, None, None\n",
              entry_points="[pydantic]\nmine = pyd_plugin\n")
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
                          env={**env, "PYTHONPATH": str(site)})
    out = json.loads(proc.stdout)
    assert out["pydantic"] == ["mine"] and out["disabled"] is None
