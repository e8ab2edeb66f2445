"""`anytune sweep JOB.yaml` and its follow-ups (status, cancel, resume, report), and `anytune sweeps`.

`anytune sweep JOB.yaml` is the group's default command (`start`), so a job file can follow `sweep` directly."""


import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from .cli_errors import App
from .errors import AnytuneError

out = Console()
err = Console(stderr=True)


class _StartByDefault(TyperGroup):
    """`anytune sweep job.yaml` runs `start`; `anytune sweep status ID` and the others as usual."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "start", self.commands["start"], args
        return super().resolve_command(ctx, args)


app = App(cls=_StartByDefault, no_args_is_help=True,
          help="Hyperparameter sweeps: one spec with a sweep: block, many trials as jobs on any provider, one "
               "budget, the best trial's model in runs/<name>/<sweep>/best/. `anytune sweep JOB.yaml` starts one "
               "(or resumes the unfinished sweep of the same spec).")
SweepId = Annotated[str | None, typer.Argument(help="Sweep id or a unique prefix; default: the latest sweep.")]
AsJson = Annotated[bool, typer.Option("--json", help="Every field, as JSON.")]


def _sweep_id(sweep_id: str | None) -> str:
    from .store import JobStore

    if sweep_id:
        return sweep_id
    found = JobStore().sweeps(limit=1)
    if not found:
        raise AnytuneError("there are no sweeps yet (`anytune sweep job.yaml`)")
    return found[0].id


def plan_table(trials) -> Table:
    from .sweep.space import label

    table = Table("trial", "parameters", "provider", "instance", "hours", "cost")
    for t in trials:
        r = t.row()
        table.add_row(str(t.index), escape(label(t.params)), r["provider"], escape(r["instance"]),
                      f"{r['hours']:.2f}" if r["hours"] is not None else "", f"${t.cost:.2f}")
    return table


def status_table(summary: dict) -> Table:
    table = Table("trial", "parameters", "job", "provider", "state", summary["metric"], "cost", "time",
                  title=f"sweep {summary['id']}: {summary['state']} ({summary['strategy']}, "
                        f"{'lower' if summary['direction'] == 'minimize' else 'higher'} {summary['metric']} is better)")
    table.columns[2].no_wrap = True
    for r in summary["trials"]:
        score = "" if r["score"] is None else f"{r['score']:.4f}"
        table.add_row(("★ " if r["best"] else "") + str(r["trial"]), escape(r["label"]), r["job"], r["provider"],
                      r["state"], f"[bold green]{score}[/]" if r["best"] else score,
                      "" if r["cost_usd"] is None else f"${r['cost_usd']:.2f}",
                      "" if r["seconds"] is None else f"{r['seconds']:.0f}s")
    return table


def _drive(sweep_id: str, interval: float) -> None:
    from .store import JobStore
    from .sweep.runner import Driver
    from .sweep.summary import summary

    rec = Driver(sweep_id, interval=interval, on_event=lambda m: err.print(escape(m), soft_wrap=True)).run()
    s = summary(rec, JobStore())
    out.print(status_table(s))
    out.print(f"spent ${s['spent_usd']:.2f} of ${s['planned_usd']:.2f} planned" + (
        f" (budget ${s['budget_usd']:g})" if s["budget_usd"] is not None else ""))
    if rec.message:
        out.print(escape(rec.message))
    if rec.state not in ("succeeded",):
        raise typer.Exit(1)


@app.command()
def start(job: Annotated[Path, typer.Argument(help="Job spec (YAML) with a sweep: block.")],
          provider: Annotated[str | None, typer.Option("--provider", "-p", help="Override the spec's provider "
                              "for every trial (a name or a comma-separated fallback list).")] = None,
          profile: Annotated[str | None, typer.Option("--profile", help="Settings profile.")] = None,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the trials with their estimates; "
                             "launch nothing.")] = False,
          yes: Annotated[bool, typer.Option("--yes", "-y", help="Skip the confirmation of the sweep's cost "
                         "(never the budget).")] = False,
          interval: Annotated[float, typer.Option(help="Seconds between polls of the running trials.")] = 2.0):
    """Estimate every trial, refuse a total over budget.max_usd, run the trials (sweep.parallel at a time),
    and pick the best by sweep.metric. Run it again with the same spec to resume a sweep that was cut short."""
    from .spec import load_spec
    from .sweep import runner

    spec = load_spec(job)
    if dry_run:
        trials = runner.plan(spec, provider=provider, profile=profile)
        out.print(plan_table(trials))
        out.print(f"{len(trials)} trials, estimated ${runner.total(trials):.2f}" + (
            f" (budget ${spec.budget.max_usd:g})" if spec.budget.max_usd is not None else "")
            + ("; optuna picks each trial from the scores so far: these are a random draw of the same space"
               if spec.sweep and spec.sweep.strategy == "optuna" else ""))
        runner.check_budget(spec, trials)
        return
    def confirm(trials) -> None:
        cost = runner.total(trials)
        err.print(f"{len(trials)} trials, estimated ${cost:.2f}")
        if cost == 0 or yes:
            return
        if not sys.stdin.isatty():
            raise AnytuneError(f"the sweep costs about ${cost:.2f}; pass --yes to confirm in a non-interactive shell")
        if not typer.confirm(f"Run {len(trials)} trials for about ${cost:.2f}?", default=False):
            raise typer.Exit(1)

    rec, resumed = runner.start(spec, provider=provider, profile=profile, on_plan=confirm)
    err.print(f"{'resuming' if resumed else 'started'} sweep [bold]{rec.id}[/]"
              + (" (the unfinished sweep of this spec)" if resumed else ""))
    _drive(rec.id, interval)


@app.command()
def status(sweep_id: SweepId = None, as_json: AsJson = False):
    """The trials: parameters, provider, state, score, cost and time; the best marked ★."""
    from .store import JobStore
    from .sweep.summary import summary

    store = JobStore()
    s = summary(store.get_sweep(_sweep_id(sweep_id)), store)
    if as_json:
        print(json.dumps(s, indent=1))
        return
    out.print(status_table(s))
    if s["message"]:
        out.print(escape(s["message"]))
    if s["state"] == "running" and not s["driven"]:
        out.print(f"[yellow]no process is running this sweep:[/] `anytune sweep resume {s['id']}` goes on with it")


@app.command()
def cancel(sweep_id: SweepId = None):
    """Stop a sweep: no more trials launch; the running ones are cancelled."""
    from .sweep.runner import cancel as cancel_sweep

    rec = cancel_sweep(_sweep_id(sweep_id))
    out.print(f"{rec.id}: {rec.state}")


@app.command()
def resume(sweep_id: SweepId = None,
           interval: Annotated[float, typer.Option(help="Seconds between polls of the running trials.")] = 2.0):
    """Go on with a sweep whose `anytune sweep` was cut short: finished trials stay, running ones are
    followed, the rest launch."""
    from .store import JobStore

    rec = JobStore().get_sweep(_sweep_id(sweep_id))
    if rec.state != "running":
        raise AnytuneError(f"sweep {rec.id} is {rec.state}: nothing to resume")
    _drive(rec.id, interval)


@app.command()
def report(sweep_id: SweepId = None,
           output: Annotated[Path | None, typer.Option("--output", "-o", help="HTML file (default: "
                             "runs/<name>/<sweep>-report.html).")] = None,
           as_json: AsJson = False):
    """One HTML page: overlaid loss curves, score per trial, parameter vs score, cost per trial."""
    from .store import JobStore
    from .sweep.summary import rows, summary

    store = JobStore()
    rec = store.get_sweep(_sweep_id(sweep_id))
    if as_json:
        print(json.dumps(summary(rec, store), indent=1))
        return
    from .sweep.report import default_path, write

    path = write(rec, rows(rec, store), output or default_path(rec))
    out.print(f"report: [bold]{escape(str(path))}[/]")


def sweeps_cmd(limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20, as_json: AsJson = False):
    """List sweeps: strategy, trials, state, best trial."""
    from .store import JobStore

    store = JobStore()
    found = store.sweeps(limit)
    items = [{"id": s.id, "name": s.name, "state": s.state, "created": s.created_at,
              "strategy": s.spec.sweep.strategy, "trials": s.spec.sweep.count, "launched": len(store.trials(s.id)),
              "best_job": s.best_job or None, "message": s.message} for s in found]
    if as_json:
        print(json.dumps(items, indent=1))
        return
    table = Table("id", "state", "strategy", "trials", "best job", "created")
    table.columns[0].no_wrap = True
    for s in items:
        table.add_row(s["id"], s["state"], s["strategy"], f"{s['launched']}/{s['trials']}", s["best_job"] or "",
                      s["created"])
    out.print(table)
