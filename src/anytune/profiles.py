"""Profiles: named sets of per-provider settings, usually imported from ``terraform output -json``.

A profile lives in ``<config dir>/profiles/<name>.yaml`` (written 0600, the folder 0700)::

    providers:
      sagemaker:
        bucket: anytune-123456789012-us-east-1
        role_arn: arn:aws:iam::123456789012:role/anytune-sagemaker-training
    sensitive: [sagemaker.role_arn]   # stored, never printed

The dispatcher merges ``{**profile[provider], **spec.provider_options[provider]}``, so a job spec
can override any profile setting. Which terraform output fills which provider option each provider
declares (``Provider.terraform_outputs``); the modules under ``terraform/`` name their outputs so.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .errors import ConfigError
from .paths import config_dir


class Setting(NamedTuple):
    output: str  # terraform output name
    provider: str  # anytune provider name
    option: str  # that provider's option (ProviderOptions field)
    required: bool  # a provider counts as configured when all its required settings are present


def settings() -> tuple[Setting, ...]:
    """Every installed provider's terraform outputs (``Provider.terraform_outputs``), as one table."""
    from . import registry
    from .errors import PluginError

    out: list[Setting] = []
    for name in registry.get_registry().names():
        try:
            cls = registry.get_registry().get_class(name)
        except PluginError:  # a broken plugin is reported by `anytune providers`; it configures nothing
            continue
        out += [Setting(t.output, name, t.option, t.required) for t in cls.terraform_outputs]
    return tuple(out)

MASK = "********"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Option names that hold secrets even when nobody marked them sensitive (hand-written profiles).
_SECRET_NAME = re.compile(r"secret|password|token|access_key|account_key|api_key|connection_string|sas", re.I)
_PROFILE_KEYS = {"providers", "sensitive", "sources"}


def providers_in_table() -> list[str]:
    return sorted({s.provider for s in settings()})


def required_options(provider: str) -> list[str]:
    return [s.option for s in settings() if s.provider == provider and s.required]


# --- where profiles live ---------------------------------------------------------------------------


def profiles_dir() -> Path:
    return config_dir() / "profiles"


def profile_path(name: str) -> Path:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"invalid profile name {name!r}: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return profiles_dir() / f"{name}.yaml"


def list_profiles() -> list[str]:
    d = profiles_dir()
    return sorted(p.stem for p in d.glob("*.yaml") if _NAME.match(p.stem)) if d.is_dir() else []


# --- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    providers: dict[str, dict[str, Any]]
    sensitive: frozenset[str] = frozenset()  # "provider.option"
    sources: dict[str, str] = field(default_factory=dict)  # provider -> where its settings were imported from

    def is_secret(self, provider: str, option: str) -> bool:
        return f"{provider}.{option}" in self.sensitive or bool(_SECRET_NAME.search(option))

    def masked(self) -> dict[str, dict[str, Any]]:
        """The settings with every secret replaced by ``MASK``: safe to print or log."""
        return {
            prov: {opt: MASK if self.is_secret(prov, opt) else val for opt, val in opts.items()}
            for prov, opts in self.providers.items()
        }


def _resolve_name(name: str | None) -> tuple[str | None, bool]:
    """(profile name, whether it must exist). None: $ANYTUNE_PROFILE (must exist), else "default" if present."""
    if name is not None:
        return name, True
    env = os.environ.get("ANYTUNE_PROFILE")
    if env:
        return env, True
    return ("default", False) if profile_path("default").is_file() else (None, False)


def read_profile(name: str | None) -> Profile | None:
    """The profile ``name`` (see ``load_profile`` for None), or None when no profile applies."""
    import yaml

    resolved, must_exist = _resolve_name(name)
    if resolved is None:
        return None
    path = profile_path(resolved)
    if not path.is_file():
        if not must_exist:
            return None
        have = ", ".join(list_profiles()) or "none"
        raise ConfigError(
            f"profile {resolved!r} not found in {profiles_dir()} (have: {have}); "
            f"create it with `anytune profile import {resolved} FILE`",
            source=str(path),
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: profile is not valid YAML ({exc.problem})", source=str(path)) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read profile ({exc})", source=str(path)) from None
    return Profile(resolved, path, *_validate(data, path))


def _validate(data: Any, path: Path) -> tuple[dict[str, dict[str, Any]], frozenset[str], dict[str, str]]:
    problems: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a profile is a mapping with a 'providers' key", source=str(path))
    unknown = sorted(set(map(str, data)) - _PROFILE_KEYS)
    if unknown:
        problems.append(f"unknown keys {unknown} (allowed: {sorted(_PROFILE_KEYS)})")
    providers = data.get("providers") or {}
    if not isinstance(providers, dict):
        problems.append("'providers' must map provider names to their settings")
        providers = {}
    for prov, opts in providers.items():
        if not isinstance(opts, dict) or not all(isinstance(k, str) for k in opts):
            problems.append(f"providers.{prov}: must map option names to values")
    sensitive = data.get("sensitive") or []
    if not isinstance(sensitive, list) or not all(isinstance(s, str) for s in sensitive):
        problems.append("'sensitive' must be a list of 'provider.option' strings")
        sensitive = []
    sources = data.get("sources") or {}
    if not isinstance(sources, dict):
        problems.append("'sources' must map provider names to where their settings came from")
        sources = {}
    if problems:
        raise ConfigError(f"{path}: invalid profile", problems, source=str(path))
    return ({str(p): dict(o) for p, o in providers.items()}, frozenset(sensitive),
            {str(k): str(v) for k, v in sources.items()})


def load_profile(name: str | None) -> dict[str, dict]:
    """Provider name -> settings of profile ``name``; ``{}`` when there is no profile.

    ``name=None`` means ``$ANYTUNE_PROFILE`` when set (it must exist), else the profile "default"
    when it exists, else none. A profile named explicitly must exist.
    """
    profile = read_profile(name)
    return {} if profile is None else {p: dict(o) for p, o in profile.providers.items()}


def configured_providers(profile: dict[str, dict]) -> list[str]:
    """Providers whose settings in ``profile`` include every required setting of the table
    (a provider the table does not know counts when it has any settings)."""
    out = []
    for prov, opts in profile.items():
        needed = required_options(prov)
        if (needed and all(opts.get(o) not in (None, "") for o in needed)) or (not needed and opts):
            out.append(prov)
    return sorted(out)


# --- terraform output -json ------------------------------------------------------------------------


@dataclass(frozen=True)
class TerraformImport:
    providers: dict[str, dict[str, Any]]
    sensitive: frozenset[str]
    ignored: tuple[str, ...] = ()  # outputs that are no anytune setting
    skipped: tuple[str, ...] = ()  # optional outputs that were null or empty


def parse_terraform_outputs(text: str, source: str = "<stdin>") -> TerraformImport:
    """Validate ``terraform output -json`` text and map it to provider settings via :func:`settings`."""
    outputs = _parse_output_json(text, source)
    values = {k: v["value"] for k, v in outputs.items()}
    secret = {k for k, v in outputs.items() if v["sensitive"]}
    table = settings()
    known = {s.output for s in table}

    detected, problems = [], []
    for prov in providers_in_table():
        required = [s.output for s in table if s.provider == prov and s.required]
        present = [o for o in required if _usable(values.get(o))]
        if len(present) == len(required):
            detected.append(prov)
        elif any(o in values for o in required):
            missing = [o for o in required if o not in present]
            problems.append(f"{prov}: missing or empty outputs {missing} (has {sorted(set(required) & set(values))})")
    if problems:
        raise ConfigError(f"{source}: terraform outputs configure a provider only partly", problems, source=source)
    if not detected:
        hint = "; ".join(f"{p} needs {[s.output for s in table if s.provider == p and s.required]}"
                         for p in providers_in_table())
        raise ConfigError(
            f"{source}: no anytune provider's outputs found (outputs: {sorted(values)}). "
            f"Run it in a module from anytune's terraform/ folder; {hint}",
            source=source,
        )

    providers: dict[str, dict[str, Any]] = {}
    sensitive: set[str] = set()
    skipped: set[str] = set()
    wrong: list[str] = []
    for s in table:
        if s.provider not in detected or s.output not in values:
            continue
        value = values[s.output]
        if isinstance(value, (list, dict)):
            wrong.append(f"output {s.output!r} is a {type(value).__name__}; anytune settings are single values")
            continue
        if not _usable(value):
            skipped.add(s.output)
            continue
        providers.setdefault(s.provider, {})[s.option] = value
        if s.output in secret:
            sensitive.add(f"{s.provider}.{s.option}")
    if wrong:
        raise ConfigError(f"{source}: unusable terraform outputs", wrong, source=source)
    ignored = tuple(sorted(set(values) - known))
    return TerraformImport(providers, frozenset(sensitive), ignored, tuple(sorted(skipped)))


def _usable(value: Any) -> bool:
    return value is not None and value != ""


def _parse_output_json(text: str, source: str) -> dict[str, dict[str, Any]]:
    what = "pass the output of `terraform output -json`"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg}); {what}", source=source) from None
    if isinstance(data, dict) and "format_version" in data and ("values" in data or "planned_values" in data):
        raise ConfigError(f"{source}: this is `terraform show -json` output; {what}", source=source)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a JSON object of outputs, got a {type(data).__name__} "
            f"(`terraform output -json NAME` prints one value; run it without NAME)",
            source=source,
        )
    if not data:
        raise ConfigError(f"{source}: no outputs; run `terraform apply` first, then `terraform output -json`", source=source)
    bad = [
        f"output {name!r}: expected an object with 'value', 'type' and 'sensitive'"
        for name, entry in data.items()
        if not (isinstance(entry, dict) and "value" in entry and "type" in entry
                and isinstance(entry.get("sensitive"), bool))
    ]
    if bad:
        raise ConfigError(f"{source}: unknown shape; {what}", bad[:5], source=source)
    return data


# --- writing ---------------------------------------------------------------------------------------


def write_profile(name: str, providers: dict[str, dict[str, Any]], sensitive: frozenset[str] | set[str] = frozenset(),
                  sources: dict[str, str] | None = None) -> Path:
    """Write a whole profile atomically, readable by its owner only (0600, folder 0700)."""
    import yaml

    path = profile_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    doc: dict[str, Any] = {"providers": providers}
    if sensitive:
        doc["sensitive"] = sorted(sensitive)
    if sources:
        doc["sources"] = dict(sorted(sources.items()))
    text = "# anytune profile; `anytune profile show " + name + "` prints it with secrets masked\n"
    text += yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".tmp")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def import_terraform(name: str, text: str, source: str = "<stdin>") -> tuple[Path, TerraformImport, list[str]]:
    """Parse ``terraform output -json`` and write its settings into profile ``name``.

    Providers the outputs configure replace that provider's settings in the profile; other
    providers already in the profile are kept. Returns (path, what was imported, providers replaced).
    """
    imported = parse_terraform_outputs(text, source)
    path = profile_path(name)
    old = read_profile(name) if path.is_file() else None
    providers = dict(old.providers) if old else {}
    sensitive = {s for s in (old.sensitive if old else ()) if s.split(".", 1)[0] not in imported.providers}
    sources = {p: s for p, s in (old.sources if old else {}).items() if p not in imported.providers}
    replaced = sorted(p for p in imported.providers if p in providers)
    providers.update(imported.providers)
    sensitive |= imported.sensitive
    sources.update({p: f"terraform output -json ({source})" for p in imported.providers})
    write_profile(name, providers, sensitive, sources)
    return path, imported, replaced
