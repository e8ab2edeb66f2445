"""How every `anytune` command reports a failure: one line on stderr (or a JSON object with --json), the
exit code of the error (2 bad input, 1 job or provider failure), never a traceback.

Every command app is an ``App``: its commands go through ``clean_errors``, so a command behaves the same
run as `anytune ...`, as `python -m anytune.serve` or under a test's CliRunner.
"""


import functools
import json
import sys
from collections.abc import Callable

import typer
from rich.console import Console
from rich.markup import escape

from .errors import AnytuneError

err = Console(stderr=True)


def problem_of(exc: BaseException) -> AnytuneError | None:
    """The AnytuneError to show for ``exc``: itself, or for a missing optional package the one naming its
    extra; None for anything else (a bug, which keeps its traceback)."""
    if isinstance(exc, AnytuneError):
        return exc
    if isinstance(exc, ModuleNotFoundError):
        from .optional import missing

        return missing(exc)
    return None


def show(exc: AnytuneError, json_out: bool = False) -> int:
    """Print ``exc`` the one way (with the dispatch plan when it carries one) and return its exit code."""
    if json_out:
        print(json.dumps({"ok": False, "error": str(exc)}, indent=2))
        return exc.exit_code
    plan = getattr(exc, "plan", None)
    if plan is not None:
        from .cli import plan_table

        err.print(plan_table(plan))
    err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)  # never wrapped mid-path
    return exc.exit_code


def fail(exc: AnytuneError, json_out: bool = False):
    """Show ``exc`` and end the command with its exit code."""
    raise typer.Exit(show(exc, json_out)) from None


def clean_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def command(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (AnytuneError, ModuleNotFoundError) as exc:
            problem = problem_of(exc)
            if problem is None:
                raise
            fail(problem)

    return command


class App(typer.Typer):
    """A typer app whose every command reports errors through ``clean_errors``."""

    def __init__(self, **kwargs):
        super().__init__(add_completion=False, pretty_exceptions_enable=False, **kwargs)

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)
        return lambda fn: (register(clean_errors(fn)), fn)[1]


def run(app: typer.Typer) -> None:
    """Run ``app`` as a program: errors raised outside a command (e.g. at startup) are shown the same way;
    Ctrl-C ends with 130 and says that a submitted job keeps running."""
    try:
        app()
    except (AnytuneError, ModuleNotFoundError) as exc:
        problem = problem_of(exc)
        if problem is None:
            raise
        sys.exit(show(problem))
    except KeyboardInterrupt:
        err.print("interrupted (a submitted job keeps running; `anytune cancel` stops it)")
        sys.exit(130)
