"""`anytune profile`: import settings from `terraform output -json`, show them (secrets masked), list profiles."""


import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import profiles
from .cli_errors import App
from .errors import AnytuneError, ConfigError

app = App(help="Settings profiles: per-provider settings, e.g. imported from `terraform output -json`.",
          no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _read_input(file: str) -> tuple[str, str]:
    if file == "-":
        if sys.stdin.isatty():
            raise ConfigError("no input: pipe it in (`terraform output -json | anytune profile import NAME`) "
                              "or pass a file")
        return sys.stdin.read(), "<stdin>"
    path = Path(file)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; save it with `terraform output -json > {path.name}`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None


@app.command("import")
def import_(
    name: Annotated[str, typer.Argument(help="Profile to write (created, or updated provider by provider).")],
    file: Annotated[str, typer.Argument(help="`terraform output -json` saved to a file, or - for stdin.")] = "-",
):
    """Write the anytune settings found in `terraform output -json` into profile NAME."""
    text, source = _read_input(file)
    path, imported, replaced = profiles.import_terraform(name, text, source)
    for prov, opts in sorted(imported.providers.items()):
        verb = "replaced" if prov in replaced else "added"
        out.print(f"{verb} [bold]{prov}[/]: {', '.join(opts)}", highlight=False)
    if imported.skipped:
        out.print(f"left out empty outputs: {', '.join(imported.skipped)}", highlight=False)
    if imported.ignored:
        out.print(f"ignored outputs (no anytune setting): {', '.join(imported.ignored)}", highlight=False)
    out.print(f"profile [bold]{name}[/] written to {escape(str(path))}; "
              f"use it with `anytune run JOB --profile {name}`", highlight=False)


@app.command()
def show(name: Annotated[str | None, typer.Argument(help="Profile; default: $ANYTUNE_PROFILE or 'default'.")] = None):
    """Print a profile's settings, with sensitive values masked."""
    profile = profiles.read_profile(name)
    if profile is None:
        raise ConfigError("no profile: none named, $ANYTUNE_PROFILE is unset and there is no 'default' profile "
                          f"in {profiles.profiles_dir()}")
    table = Table("provider", "setting", title=f"profile {profile.name} ({escape(str(profile.path))})")
    table.add_column("value", overflow="fold")
    for prov, opts in profile.masked().items():
        for opt, value in opts.items():
            table.add_row(prov, opt, escape(str(value)))
    out.print(table)
    configured = profiles.configured_providers(profile.providers)
    out.print(f"configured providers: {', '.join(configured) or 'none'}", highlight=False)


@app.command("list")
def list_():
    """List profiles and the providers each one configures."""
    names = profiles.list_profiles()
    if not names:
        out.print(f"no profiles in {profiles.profiles_dir()}; create one with "
                  "`terraform output -json | anytune profile import NAME`", highlight=False)
        return
    table = Table("profile", "providers", "configured")
    table.add_column("file", overflow="fold")
    for name in names:
        try:
            prof = profiles.read_profile(name)
        except AnytuneError as exc:
            table.add_row(name, "", "", f"[red]{escape(str(exc))}[/]")
            continue
        table.add_row(name, ", ".join(sorted(prof.providers)), ", ".join(profiles.configured_providers(prof.providers)),
                      escape(str(prof.path)))
    out.print(table)
