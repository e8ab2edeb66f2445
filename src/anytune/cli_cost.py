"""Cost commands: `anytune compare`, `anytune pricing show|refresh`, `anytune calibrate`.

Mounted by anytune.cli:
    app.command("compare")(cli_cost.compare_cmd)
    app.command("calibrate")(cli_cost.calibrate_cmd)
    app.add_typer(cli_cost.pricing_app, name="pricing")
Errors are anytune.errors exceptions; anytune.cli.main turns them into a message and exit code.
"""


import json
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .cli_errors import App
from .errors import ConfigError

out = Console()
err = Console(stderr=True)

pricing_app = App(help="Price catalogs: show them with their dates, refresh them from the price APIs.",
                          no_args_is_help=True)


def compare_cmd(
    job: Annotated[Path, typer.Argument(help="Job spec (YAML).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of the table.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also write a bar chart PNG here.")] = None,
    providers: Annotated[str | None, typer.Option("--providers", help="Only these (comma-separated).")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="Settings profile (see `anytune profile`).")] = None,
):
    """Compare cost, time and fit across every installed provider, cheapest first.

    Reads only price catalogs: no cloud is contacted and no cloud SDK is loaded."""
    from .comparison import bars, compare, footnotes, table
    from .comparison import plot as plot_png
    from .spec import load_spec

    spec = load_spec(job)
    names = [n.strip() for n in providers.split(",") if n.strip()] if providers else None
    comp = compare(spec, providers=names, profile=profile)
    if plot is not None:
        plot_png(comp, plot)
    if as_json:
        print(json.dumps(comp.to_json(), indent=2))
        return
    out.print(table(comp))
    for line in footnotes(comp):
        out.print(line, highlight=False, soft_wrap=True)
    out.print()
    for line in bars(comp):
        out.print(line, highlight=False)
    if plot is not None:
        out.print(f"wrote {plot}")
    if not any(r.fits for r in comp.rows):
        err.print("[yellow]no installed provider can run this job as specified[/]")


def _installed_catalogs(only: str | None) -> dict[str, Path | None]:
    from .estimation.catalogs import installed_catalogs

    found = installed_catalogs()
    if only is not None:
        if only not in found:
            raise ConfigError(f"provider {only!r} is not installed (installed: {', '.join(found) or 'none'})")
        return {only: found[only]}
    return found


@pricing_app.command("show")
def pricing_show(
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="Only this provider.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Prices for this region (default: each catalog's).")] = None,
):
    """Print the price catalogs with each price's date, confidence and source."""
    from .estimation.catalogs import catalog_table

    for name, path in _installed_catalogs(provider).items():
        if path is None:
            out.print(f"[bold]{name}[/]: no price catalog (a local provider is priced by its price_per_hour option)")
            continue
        table, notes = catalog_table(name, path, region)
        out.print(table)
        for note in notes:
            out.print(f"  [dim]- {note}[/]", highlight=False, soft_wrap=True)


@pricing_app.command("refresh")
def pricing_refresh(
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="Only this provider.")] = None,
    region: Annotated[list[str] | None, typer.Option("--region", help="Regions to read (repeatable); "
                      "default: the catalog's default region and every region it models.")] = None,
    gcp_api_key: Annotated[str | None, typer.Option("--gcp-api-key", envvar="ANYTUNE_GCP_API_KEY",
                           show_envvar=True, help="API key for the Cloud Billing Catalog API.")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", hidden=True, help="Price API base URL (tests).")] = None,
):
    """Read current prices from the public price APIs into <ANYTUNE_HOME>/pricing/. Offline, the shipped
    snapshot stays in use and this says how old it is."""
    from .estimation.refresh import refresh

    ok = 0
    for name, path in _installed_catalogs(provider).items():
        if path is None:
            continue
        result = refresh(name, path, regions=region or None, endpoint=endpoint, api_key=gcp_api_key)
        (err if result.problem else out).print(result.message, highlight=False, soft_wrap=True)
        ok += result.problem is None
    if ok == 0:
        raise typer.Exit(1)


def _latest_metrics() -> Path | None:
    from . import paths

    found = [p for root in (Path("runs"), paths.home() / "jobs") if root.is_dir() for p in root.rglob("metrics.json")]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _detect_gpus() -> tuple[str | None, int]:
    try:
        res = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None, 0
    names = [line.strip() for line in res.stdout.splitlines() if line.strip()] if res.returncode == 0 else []
    return (names[0], len(names)) if names else (None, 0)


def calibrate_cmd(
    from_metrics: Annotated[Path | None, typer.Option("--from-metrics", help="metrics.json of a local run "
                            "(default: the newest under ./runs and the job store).")] = None,
    gpu: Annotated[str | None, typer.Option("--gpu", help="GPU the run used (default: from metrics.json, "
                   "else nvidia-smi; CPU when the run was on the CPU).")] = None,
    gpu_count: Annotated[int | None, typer.Option("--gpu-count", min=1)] = None,
):
    """Record a local run's measured tokens/s; later local estimates use it instead of the assumed MFU."""
    from .estimation.calibration import from_metrics as make
    from .estimation.calibration import record

    path = from_metrics or _latest_metrics()
    if path is None:
        raise ConfigError("no metrics.json found", ["train once locally (`anytune run job.yaml`), "
                                                     "or pass --from-metrics PATH"])
    try:
        metrics = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable metrics.json ({exc})") from None
    on_gpu = metrics.get("device", "cuda") != "cpu"
    if on_gpu and gpu is None:
        gpu = metrics.get("gpu_name")
        gpu_count = gpu_count or metrics.get("gpu_count")
        if gpu is None:
            gpu, detected = _detect_gpus()
            gpu_count = gpu_count or detected or None
        if gpu is None:
            raise ConfigError(f"{path}: the run used a GPU but its type is unknown", ["pass --gpu NAME"])
    cal = make(metrics, source=str(path), gpu=gpu if on_gpu else None, gpu_count=gpu_count or 1)
    where = record(cal)
    out.print(f"recorded {cal.tokens_per_second:,.1f} tokens/s ({cal.method}, {cal.base_model}) on "
              f"{cal.gpu_count}× {cal.gpu} = {cal.tflops_per_gpu:.3g} TFLOP/s per device in {where}", highlight=False,
              soft_wrap=True)
