"""Static checks of the terraform modules: no terraform binary or provider download is possible here,
so these are the honest checks we can run — parse (python-hcl2), reference resolution, variable and
version hygiene, agreement with the profile table, and checkov."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import hcl2
import pytest

from anytune.profiles import settings

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "terraform"
MODULES = {"aws": "sagemaker", "gcp": "vertex", "azure": "azureml"}  # module folder -> anytune provider
# Outputs that are no anytune setting (profile import reports and ignores them).
INFORMATIONAL_OUTPUTS = {"aws": {"launcher_policy_arn"}}


# --- reading a module with python-hcl2 -------------------------------------------------------------


META = {"__is_block__", "__comments__", "__inline_comments__"}  # python-hcl2 bookkeeping, not HCL


def _unquote(s: str) -> str:
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] == '"' else s


def _expr(s: str, i: int) -> tuple[str, int]:
    """Scan an expression from s[i] to its unmatched '}' (or the end); string literals are dropped,
    the interpolations inside them kept."""
    code, depth = [], 0
    while i < len(s):
        c = s[i]
        if c == '"':
            sub, i = _template(s, i + 1)
            code.append(f" {sub} ")
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return "".join(code), i
            depth -= 1
        code.append(c)
        i += 1
    return "".join(code), i


def _template(s: str, i: int) -> tuple[str, int]:
    """Scan a string template after its opening quote; returns the code of its interpolations."""
    code = []
    while i < len(s):
        if s[i] == "\\":
            i += 2
        elif s.startswith("$${", i) or s.startswith("%%{", i):
            i += 3
        elif s.startswith("${", i) or s.startswith("%{", i):
            sub, i = _expr(s, i + 2)
            code.append(f" {sub} ")
            i += 1
        elif s[i] == '"':
            return "".join(code), i + 1
        else:
            i += 1
    return "".join(code), i


def code_of(value: str) -> str:
    """The expression code in one python-hcl2 leaf value (without string-literal text)."""
    if value.startswith('"'):
        return _template(value, 1)[0]
    if value.startswith("${") and value.endswith("}"):
        return _expr(value[2:-1], 0)[0]
    return value


def _leaves(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k not in META:
                yield from _leaves(v)
    elif isinstance(node, list):
        for v in node:
            yield from _leaves(v)
    elif isinstance(node, str):
        yield node


def load_module(path: Path) -> dict[str, list]:
    merged: dict[str, list] = {}
    for tf in sorted(path.glob("*.tf")):
        with tf.open(encoding="utf-8") as fh:
            parsed = hcl2.load(fh)
        for kind, blocks in parsed.items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def _labeled(blocks: list, depth: int) -> dict[tuple[str, ...], dict]:
    """{(label, ...): body} for blocks with `depth` labels (variable "x" = 1, resource "t" "n" = 2)."""
    out = {}
    for block in blocks:
        stack = [((), block)]
        while stack:
            labels, node = stack.pop()
            if len(labels) == depth:
                out[labels] = node
                continue
            for k, v in node.items():
                if k not in META:
                    stack.append(((*labels, _unquote(k)), v))
    return out


REF = re.compile(r"(?<![\w.-])(var|local|module|data)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")
RESOURCE_REF = re.compile(r"(?<![\w.-])([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)")


def check_references(module: dict[str, list]) -> list[str]:
    """Problems: references to undeclared var/local/module/data/resources, unknown providers,
    unused variables or locals. Empty when the module is consistent."""
    variables = {k[0] for k in _labeled(module.get("variable", []), 1)}
    locals_ = {k for block in module.get("locals", []) for k in block if k not in META}
    modules = {k[0] for k in _labeled(module.get("module", []), 1)}
    resources = _labeled(module.get("resource", []), 2)
    datas = _labeled(module.get("data", []), 2)
    providers = {
        k for block in module.get("terraform", []) for rp in block.get("required_providers", []) for k in rp
        if k not in META
    }
    prefixes = {p.split("-")[0] for p in providers}

    problems, used = [], set()
    for blocks in module.values():
        for leaf in _leaves(blocks):
            code = code_of(leaf)
            for m in REF.finditer(code):
                ns, name, attr = m.groups()
                used.add((ns, name))
                if ns == "var" and name not in variables:
                    problems.append(f"var.{name} is not declared")
                elif ns == "local" and name not in locals_:
                    problems.append(f"local.{name} is not declared")
                elif ns == "module" and name not in modules:
                    problems.append(f"module.{name} is not declared")
                elif ns == "data" and (name, attr) not in datas:
                    problems.append(f"data.{name}.{attr} is not declared")
            for m in RESOURCE_REF.finditer(code):
                rtype, name = m.groups()
                if rtype.split("_")[0] in prefixes and (rtype, name) not in resources:
                    problems.append(f"{rtype}.{name} is not declared")
    for (rtype, name), body in {**resources, **datas}.items():
        if rtype.split("_")[0] not in prefixes:
            problems.append(f"{rtype}.{name}: no required_providers entry for {rtype.split('_')[0]!r}")
        alias = body.get("provider")
        if alias is not None and code_of(alias).strip().split(".")[0] not in providers:
            problems.append(f"{rtype}.{name}: provider {code_of(alias).strip()!r} is not in required_providers")
    problems += [f"variable {v!r} is never used" for v in sorted(variables) if ("var", v) not in used]
    problems += [f"local {v!r} is never used" for v in sorted(locals_) if ("local", v) not in used]
    return sorted(set(problems))


# --- the tests -------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(MODULES))
def module(request):
    return request.param, load_module(TERRAFORM / request.param)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_file_parses(name):
    path = TERRAFORM / name
    files = sorted(p.name for p in path.glob("*.tf"))
    assert {"versions.tf", "variables.tf", "outputs.tf"} <= set(files), files
    for tf in path.glob("*.tf"):
        with tf.open(encoding="utf-8") as fh:
            try:
                hcl2.load(fh)
            except Exception as exc:  # the parser raises lark errors of several kinds
                pytest.fail(f"{tf.relative_to(ROOT)} does not parse: {exc}")
    assert (path / "README.md").is_file()
    assert (path / "example.tfvars").is_file()


def test_every_reference_resolves(module):
    name, mod = module
    assert check_references(mod) == [], name


def test_reference_check_catches_mistakes(tmp_path):
    (tmp_path / "main.tf").write_text(
        """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 6.0" }
  }
}
variable "used" { type = string }
variable "unused" { type = string }
locals { greeting = "hi ${var.used} ${var.missing}" }
resource "aws_s3_bucket" "b" {
  bucket = "${local.greeting}-${local.nope}"
  policy = data.aws_iam_policy_document.absent.json
  tags   = { note = "aws_s3_bucket.in_a_string is text, not a reference" }
}
resource "aws_s3_bucket_policy" "p" {
  bucket   = aws_s3_bucket.b.id
  policy   = aws_s3_bucket.gone.arn
  provider = awz
}
output "o" { value = module.nothing.x }
""",
        encoding="utf-8",
    )
    assert check_references(load_module(tmp_path)) == sorted([
        "var.missing is not declared",
        "local.nope is not declared",
        "data.aws_iam_policy_document.absent is not declared",
        "aws_s3_bucket.gone is not declared",
        "module.nothing is not declared",
        "aws_s3_bucket_policy.p: provider 'awz' is not in required_providers",
        "variable 'unused' is never used",
    ])


def test_providers_are_pinned(module):
    name, mod = module
    [tf] = mod["terraform"]
    assert re.match(r"^>= ?1\.\d+", _unquote(tf["required_version"])), name
    pins = {k: v for rp in tf["required_providers"] for k, v in rp.items() if k not in META}
    assert pins, name
    for provider, spec in pins.items():
        assert _unquote(spec["source"]).startswith("hashicorp/"), (name, provider)
        assert re.fullmatch(r"(~> ?\d+\.\d+(\.\d+)?|=? ?\d+\.\d+\.\d+)", _unquote(spec["version"])), (name, provider, spec)


def test_variables_have_description_type_and_validation(module):
    name, mod = module
    problems = []
    for (var,), body in _labeled(mod["variable"], 1).items():
        if not _unquote(body.get("description", "")).strip():
            problems.append(f"{var}: no description")
        vtype = body.get("type")
        if not vtype:
            problems.append(f"{var}: no type")
        # Free-form values are validated; a bool or a map of tags has nothing left to check.
        if vtype not in ("bool", "${map(string)}", "map(string)") and not body.get("validation"):
            problems.append(f"{var}: no validation")
        for rule in body.get("validation", []):
            if not _unquote(rule.get("error_message", "")).strip():
                problems.append(f"{var}: validation without error_message")
    assert problems == [], name


def test_outputs_are_the_profile_settings(module):
    name, mod = module
    outputs = _labeled(mod["output"], 1)
    wanted = {s.output for s in settings() if s.provider == MODULES[name]}
    declared = {k[0] for k in outputs}
    assert declared - INFORMATIONAL_OUTPUTS.get(name, set()) == wanted, name
    assert all(_unquote(body.get("description", "")) for body in outputs.values()), name
    sample = json.loads((ROOT / "tests" / "data" / "terraform" / f"{name}-output.json").read_text())
    assert set(sample) <= declared, f"tests/data/terraform/{name}-output.json has outputs the module lacks"


def test_example_tfvars_sets_only_known_variables(module):
    name, mod = module
    with (TERRAFORM / name / "example.tfvars").open(encoding="utf-8") as fh:
        example = hcl2.load(fh)
    variables = _labeled(mod["variable"], 1)
    required = {k[0] for k, body in variables.items() if "default" not in body}
    assert set(example) - META <= {k[0] for k in variables}, name
    assert required <= set(example), f"{name}/example.tfvars lacks required variables {required - set(example)}"


def test_top_level_readme_says_what_is_checked():
    text = (TERRAFORM / "README.md").read_text(encoding="utf-8")
    assert "no terraform binary" in text.lower() and "checkov" in text


# --- checkov, from its own virtual environment -----------------------------------------------------


def _checkov() -> str:
    binary = os.environ.get("CHECKOV_BIN") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    if not Path(binary).is_file():
        reason = (f"checkov not found at {binary}: create it with `python3 -m venv .venv-checkov && "
                  f".venv-checkov/bin/pip install checkov` or set CHECKOV_BIN")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="module")
def checkov_report() -> dict:
    """One checkov run over terraform/ (it scans each module folder on its own; one process saves its
    start-up time twice). Result file paths start with the module folder: /aws/s3.tf."""
    proc = subprocess.run(
        [_checkov(), "-d", str(TERRAFORM), "--framework", "terraform", "--skip-download", "--compact", "-o", "json"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no JSON report (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    return report


@pytest.mark.parametrize("name", sorted(MODULES))
def test_checkov_finds_no_failed_checks(name, checkov_report):
    results = {
        kind: [c for c in checkov_report["results"][f"{kind}_checks"] if c["file_path"].split("/")[1] == name]
        for kind in ("passed", "failed", "skipped")
    }
    line = (f"checkov terraform/{name}: Passed checks: {len(results['passed'])}, "
            f"Failed checks: {len(results['failed'])}, Skipped checks: {len(results['skipped'])}")
    print(line)
    assert results["failed"] == [], line + "".join(
        f"\n  {c['check_id']} {c['resource']} ({c['file_path']})" for c in results["failed"])
    assert results["passed"], f"{line}: checkov checked nothing in this module"
    for c in results["skipped"]:
        reason = (c["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) >= 40, f"{c['check_id']} on {c['resource']} is skipped without a real justification"
