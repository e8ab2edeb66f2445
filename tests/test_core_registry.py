"""The registry discovers plugins through real entry points (dist-info folders on sys.path), in a subprocess."""

import json
import os
import subprocess
import sys

import pytest

from anytune import registry
from anytune.errors import PluginError
from anytune.testing.imports import run_blocking


def load_in_subprocess(root):
    code = """
import json
from anytune import registry
reg = registry.load()
out = {"names": reg.names(), "problems": reg.problems, "dists": {n: r.dist for n, r in reg.providers.items()}}
for name in ["dup", "nosuch", "broken-import"]:
    try:
        registry.reset(reg); registry.create(name)
    except Exception as exc:
        out[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_broken_plugins_and_duplicates_do_not_stop_the_others(tmp_path, make_dist):
    make_dist(tmp_path, "good-one", "good_one", provider="alpha")
    make_dist(tmp_path, "broken-import", "broken_import", "import no_such_module_xyz\n")
    make_dist(tmp_path, "broken-hook", "broken_hook", """
        from anytune import hookimpl
        @hookimpl
        def anytune_register_providers(register):
            raise RuntimeError("boom in register")
    """)
    make_dist(tmp_path, "dup-a", "dup_a", provider="dup")
    make_dist(tmp_path, "dup-b", "dup_b", provider="dup")
    out = load_in_subprocess(tmp_path)
    assert "alpha" in out["names"] and out["dists"]["alpha"] == "good-one"
    problems = "\n".join(out["problems"])
    assert "broken-import" in problems and "no_such_module_xyz" in problems
    assert "broken-hook" in problems and "boom in register" in problems
    assert "dup" not in out["names"]
    assert "dup-a" in out["dup"] and "dup-b" in out["dup"] and out["dup"].startswith("PluginError")
    assert out["nosuch"].startswith("PluginError: unknown provider 'nosuch' (installed: ")
    # a provider whose plugin is installed and broken says what broke, not "install it"
    broken = out["broken-import"]
    assert "failed to load" in broken and "No module named 'no_such_module_xyz'" in broken, broken
    assert "pip install" not in broken


def test_unknown_provider_says_how_providers_are_installed():
    only_fake = registry.Registry(providers={"fake": registry.Registration("fake", "anytune.testing.fake:FakeProvider",
                                                                            "fake", "anytune")})
    with pytest.raises(PluginError, match=r"pip install 'anytune\[<name>\]'") as info:
        only_fake.get_class("vertex")
    assert "(installed: fake)" in str(info.value)


def test_a_provider_class_that_cannot_be_imported_shows_the_import_error():
    broken = registry.Registry(providers={"x": registry.Registration("x", "no_such_pkg_abc.provider:X", "x", "x-dist")})
    with pytest.raises(PluginError, match=r"x-dist.*ModuleNotFoundError: No module named 'no_such_pkg_abc'"):
        broken.get_class("x")


def test_registration_through_the_hook_is_lazy(with_fake):
    reg = with_fake.providers["fake"]
    assert reg.target == "anytune.testing.fake:FakeProvider"
    assert registry.create("fake").name == "fake"


def test_importing_anytune_and_listing_providers_imports_nothing_heavy():
    proc = run_blocking("""
        import sys, anytune
        from anytune import registry
        reg = registry.get_registry()
        for name in reg.names():
            try:
                reg.get_class(name)   # provider modules themselves must import SDKs lazily
            except Exception as exc:
                raise SystemExit(f"{name}: {exc}")
        from anytune.cli import app
        heavy = [m for m in ("torch", "transformers", "boto3", "sagemaker", "openai", "azure.ai.ml",
                             "google.cloud.aiplatform") if m in sys.modules]
        print("ok", reg.names(), heavy)
        assert not heavy
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok")


def test_the_blocker_itself_blocks():
    proc = run_blocking("import torch")
    assert proc.returncode != 0 and "blocked import of torch" in proc.stderr
