"""Meta tests of the architecture (in the style of pytest's, datasette's and httpx's own): core does not know
the built-in providers by name, every module imports on its own, every public hook and API is documented."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import anytune
from anytune import hookspecs
from anytune.provider import Provider

CORE = Path(anytune.__file__).parent
BUILT_IN = ("local", "sagemaker", "vertex", "azureml", "openai", "ray")

# Where core may name a built-in provider in code, and why. Anything else fails the test: provider knowledge
# belongs behind a provider hook (Provider.terraform_outputs, refresh_prices, unsupported, estimate, ...).
ALLOWED = {
    "defaults.py": "the default provider of a spec is a choice of configuration",
    "optional.py": "pip extras are named after the providers in pyproject.toml; a missing module names its extra",
    "trainer/platform.py": "the trainer runs inside the cloud containers from the bundle, which carries core only, "
                           "and reads each platform's environment contract (SM_*, AIP_*)",
    "testing/imports.py": "the heavy SDK modules that light commands must not import",
}
STARTER = "# anytune job spec"
# "openai" is also the OpenAI API and its SDK, which anytune serve implements and the migration reads.
OPENAI_API = {"openai_errors.py", "openai_migrate.py", "cli.py", "inference/remote.py", "data/tokens.py",
              "data/gather.py"}


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def _naming(value: str) -> list[str]:
    """The built-in provider names a string uses as a name: the whole string, ``provider_options.<name>``,
    or a cloud provider's name as a word (``local`` and ``openai`` are also plain words and an API)."""
    found = [n for n in BUILT_IN if value == n or f"provider_options.{n}" in value]
    found += [n for n in ("sagemaker", "vertex", "azureml") if re.search(rf"\b{n}\b", value, re.I)]
    return sorted(set(found))


def test_core_does_not_name_the_built_in_providers():
    problems = []
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(CORE).as_posix()
        if rel in ALLOWED:
            continue
        for line, value in _code_strings(path):
            if value.startswith(STARTER):  # `anytune init`'s commented example spec is documentation
                continue
            names = [n for n in _naming(value) if not (n == "openai" and rel in OPENAI_API)]
            if names:
                problems.append(f"anytune/{rel}:{line}: {names} in {value[:60]!r}")
    assert not problems, "core names built-in providers (move it behind a provider hook):\n" + "\n".join(problems)


def test_the_name_check_catches_a_provider_name(tmp_path):
    assert _naming("sagemaker") == ["sagemaker"] and _naming("set provider_options.local.device") == ["local"]
    assert _naming("runs on Azure ML via azureml") == ["azureml"] and _naming("a local folder") == []


def _modules() -> list[str]:
    names = ["anytune"]
    for info in pkgutil.walk_packages([str(CORE)], prefix="anytune."):
        if ".testing" not in info.name and not info.name.endswith("__main__"):
            names.append(info.name)
    return names


def test_every_module_imports_on_its_own():
    """Each module in a fresh interpreter (no import order hides a cycle or a missing import)."""
    code = ("import importlib, sys\nfailed = []\nfor name in sys.argv[1:]:\n"
            "    for m in [k for k in sys.modules if k.startswith('anytune')]: del sys.modules[m]\n"
            "    try:\n        importlib.import_module(name)\n"
            "    except Exception as exc:\n        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
            "print('\\n'.join(failed))\n")
    proc = subprocess.run([sys.executable, "-c", code, *_modules()], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not proc.stdout.strip(), proc.stdout


def test_every_hook_is_documented():
    hooks = [f for name, f in vars(hookspecs).items() if name.startswith("anytune_") and callable(f)]
    assert hooks and all(inspect.getdoc(f) for f in hooks)


def test_every_public_api_and_provider_verb_is_documented():
    missing = [name for name in anytune.__all__ if callable(getattr(anytune, name))
               and not inspect.getdoc(getattr(anytune, name))]
    verbs = ("check", "estimate", "upload", "launch", "status", "logs", "cancel", "retrieve", "dry_run",
             "refresh_prices", "cannot", "ignores")
    missing += [f"Provider.{v}" for v in verbs if not inspect.getdoc(getattr(Provider, v))]
    assert not missing, missing


def test_provider_hooks_are_documented_in_the_architecture_page():
    page = (CORE.parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    for hook in ("unsupported", "ignored", "terraform_outputs", "refresh_prices", "CloudProvider", "plan"):
        assert hook in page, f"docs/architecture.md does not mention {hook}"


@pytest.mark.parametrize("module", ["anytune.provider", "anytune.cloud.provider", "anytune.dispatch"])
def test_core_modules_import_no_vendor_sdk(module):
    # (google and google.cloud are namespace packages a .pth file makes at start-up; their SDKs are the weight)
    code = (f"import sys, {module}\nheavy = [m for m in ('boto3', 'google.cloud.storage', 'google.cloud.aiplatform_v1', "
            "'azure.ai.ml', 'azure.storage', 'openai', 'torch') "
            "if m in sys.modules]\nprint(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_importlib_finds_every_module():  # the list the import test walks is not empty by accident
    assert len(_modules()) > 50 and all(importlib.util.find_spec(m) for m in _modules()[:5])


def test_the_version_is_written_once_in_pyproject():
    import tomllib

    declared = tomllib.loads((CORE.parents[1] / "pyproject.toml").read_text())["project"]["version"]
    assert anytune.__version__ == declared
    shown = subprocess.run([sys.executable, "-m", "anytune.cli", "--version"], capture_output=True, text=True)
    assert shown.stdout.strip() == f"anytune {declared}"
    assert not re.search(r"__version__\s*=\s*.\d+\.\d+", (CORE / "__init__.py").read_text())  # not a second copy
