"""`anytune data validate|prepare`: check training data before anything leaves the machine.

Mounted by the main CLI with ``app.add_typer(cli_data.app, name="data")``. Exit codes: 0 usable, 2 unusable
data or bad options. A readable report with a summary table, or the same content as JSON (``--json``).
"""


import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .cli_errors import App, fail
from .data.pii import BUILTIN as _PII_TYPES
from .data.pii import DESCRIPTIONS as _PII_DESCRIPTIONS
from .errors import AnytuneError

HELP = ("Check, convert and prepare training data (nothing is uploaded).\n\n"
        "PII redaction (--pii redact, the default; fail refuses the data instead) replaces each match with a typed "
        "placeholder: " + "; ".join(f"<{t}> {_PII_DESCRIPTIONS[t]}" for t in _PII_TYPES) + ".\n\n"
        "Not caught: person names, postal addresses, dates of birth, other countries' identifiers; add your own "
        "regexes with data.pii_patterns in the job spec. --pii-engine presidio (data.pii_engine) adds <PERSON> and "
        "<LOCATION> found by a spaCy NER model through Microsoft Presidio.")
app = App(help=HELP, no_args_is_help=True)
out = Console()
err = Console(stderr=True)

FileArg = Annotated[str, typer.Argument(help="Data file or folder of shards (JSONL, JSON, CSV, TSV, XLSX, Parquet), "
                                              "or a job spec (.yaml) whose data section is used.")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="Canonical format to produce: chat, "
                      "prompt_completion, text, preference (default: detected).")]
SeqOpt = Annotated[int | None, typer.Option("--max-seq-length", min=8, help="Longest example in tokens "
                   "(default: the spec's, else 1024).")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Tokenizer source: a local model folder, a "
                     "cached Hugging Face id, or an OpenAI model (gpt-4o-mini, ...). Without one, counts are "
                     "approximate.")]
ColumnsOpt = Annotated[list[str] | None, typer.Option("--column", "-c", help="Map a column: canonical=source, "
                       "e.g. -c prompt=question -c completion=answer.")]
PiiOpt = Annotated[str | None, typer.Option("--pii", help="off | redact | fail (default: redact).")]
PiiEngineOpt = Annotated[str | None, typer.Option("--pii-engine", help="patterns (default) | presidio: also person "
                         "names and places, by NER (pip install 'anytune[presidio]').")]
PiiModelOpt = Annotated[str | None, typer.Option("--pii-model", help="spaCy pipeline for --pii-engine presidio: "
                        "an installed package (default en_core_web_lg) or a folder.")]
TooLongOpt = Annotated[str | None, typer.Option("--too-long", help="truncate | drop | fail (default: truncate).")]
MinOpt = Annotated[int | None, typer.Option("--min-examples", min=1, help="Fewest training examples accepted "
                   "(default: the strictest of the spec's providers).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


def _options(file: str, fmt, max_seq_length, model, column, pii, too_long, min_examples, pii_engine=None,
             pii_model=None):
    from .data import DataOptions

    overrides: dict = {}
    if fmt:
        overrides["format"] = _choice("--format", fmt, ("auto", "chat", "prompt_completion", "text", "preference"))
    if pii:
        overrides["pii"] = _choice("--pii", pii, ("off", "redact", "fail"))
    if pii_engine:
        overrides["pii_engine"] = _choice("--pii-engine", pii_engine, ("patterns", "presidio"))
    if pii_model:
        overrides["pii_model"] = pii_model
    if too_long:
        overrides["too_long"] = _choice("--too-long", too_long, ("truncate", "drop", "fail"))
    if max_seq_length:
        overrides["max_seq_length"] = max_seq_length
    if model:
        overrides["base_model"] = model
    if min_examples:
        overrides["min_examples"] = min_examples
    if column:
        pairs = {}
        for c in column:
            name, sep, source = c.partition("=")
            if not sep or not name.strip() or not source.strip():
                raise typer.BadParameter(f"{c!r}: write canonical=source, e.g. prompt=question", param_hint="--column")
            pairs[name.strip()] = source.strip()
        overrides["columns"] = pairs
    if Path(file).suffix.lower() in (".yaml", ".yml"):
        from .spec import load_spec

        return DataOptions.from_spec(load_spec(file), **overrides)
    return DataOptions(train=file, origin="cli", **overrides)


def _choice(flag: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}", param_hint=flag)
    return value


@app.command()
def validate(file: FileArg, json_out: JsonOpt = False, format: FormatOpt = None, max_seq_length: SeqOpt = None,
             model: ModelOpt = None, column: ColumnsOpt = None, pii: PiiOpt = None, too_long: TooLongOpt = None,
             min_examples: MinOpt = None, pii_engine: PiiEngineOpt = None, pii_model: PiiModelOpt = None) -> None:
    """Check the data and print every problem with file:line, what is wrong and how to fix it."""
    from .data import validate as run_validate

    try:
        opts = _options(file, format, max_seq_length, model, column, pii, too_long, min_examples, pii_engine,
                        pii_model)
        report = run_validate(opts, progress=not json_out and out.is_terminal)
    except AnytuneError as exc:
        fail(exc, json_out)
    if json_out:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print_report(report)
    if not report.ok:
        raise typer.Exit(2)


@app.command()
def prepare(file: FileArg, output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the splits and "
            "manifest.json.")], json_out: JsonOpt = False, format: FormatOpt = None, max_seq_length: SeqOpt = None,
            model: ModelOpt = None, column: ColumnsOpt = None, pii: PiiOpt = None, too_long: TooLongOpt = None,
            min_examples: MinOpt = None, pii_engine: PiiEngineOpt = None, pii_model: PiiModelOpt = None) -> None:
    """Validate, convert, redact and split the data into canonical JSONL files plus a manifest."""
    from .data import DataValidationError
    from .data import prepare as run_prepare

    try:
        opts = _options(file, format, max_seq_length, model, column, pii, too_long, min_examples, pii_engine,
                        pii_model)
        prepared = run_prepare(opts, output, progress=not json_out and out.is_terminal)
    except DataValidationError as exc:
        if json_out:
            print(json.dumps(exc.report.to_dict(), indent=2))
        else:
            print_report(exc.report)
        raise typer.Exit(2) from None
    except AnytuneError as exc:
        fail(exc, json_out)
    manifest = json.loads((prepared.directory / "manifest.json").read_text())
    if json_out:
        print(json.dumps(manifest, indent=2))
        return
    out.print(_split_table(manifest["stats"]["splits"], manifest["tokenizer"], manifest["approximate_tokens"]))
    for w in prepared.warnings[:20]:
        out.print(f"[yellow]warning[/] {escape(w)}")
    red = ", ".join(f"{k.lower()} {v}" for k, v in prepared.redaction.items()) or "none found"
    out.print(f"PII redacted: {red}")
    for name, path in prepared.files.items():
        out.print(f"wrote {escape(str(path))} ({manifest['files'][name]['examples']} examples)")
    out.print(f"content hash {prepared.content_hash}")


def print_report(report) -> None:
    d = report.diagnostics
    files = ", ".join(report.files[:3]) + (f" and {len(report.files) - 3} more" if len(report.files) > 3 else "")
    out.print(f"[bold]{escape(files or '(no files)')}[/] — format: {report.format or 'unknown'}")
    for severity, colour in (("error", "red"), ("warning", "yellow")):
        shown = [x for x in d.items if x.severity == severity]
        for x in shown:
            out.print(f"[{colour}]{severity}[/] {escape(x.text())}")
        for code, n in d.totals_by_code(severity).items():
            kept = sum(1 for x in shown if x.code == code)
            if n > kept:
                label = f"{n - kept} more" if kept else str(n)
                out.print(f"[{colour}]{severity}[/] {label} × {code.replace('_', ' ')}")
    if report.splits:
        out.print(_split_table(report.splits, report.tokenizer, report.approximate_tokens))
    summary = Table(show_header=False, box=None)
    summary.add_column(no_wrap=True)
    summary.add_column(overflow="fold")
    summary.add_row("examples", f"{report.examples} valid of {report.lines} read")
    summary.add_row("errors / warnings", f"{d.total('error')} / {d.total('warning')}")
    if report.duplicates:
        summary.add_row("duplicates", f"{report.duplicates['exact']} exact, {report.duplicates['normalised']} "
                        "more ignoring case/spacing")
    if report.leakage:
        summary.add_row("leakage", ", ".join(f"{k} {v}" for k, v in report.leakage.items()))
    if report.too_long:
        t = report.too_long
        summary.add_row("too long", f"{t['count']} over {t['max_seq_length']} tokens (policy {t['policy']})")
    summary.add_row("PII", ", ".join(f"{k.lower()} {v}" for k, v in report.redaction.items()) or "none found")
    if report.conversions:
        summary.add_row("converted", ", ".join(f"{k}: {v}" for k, v in report.conversions.items()))
    if report.content_hash:
        summary.add_row("content hash", report.content_hash)
    out.print(summary)
    colour = "green" if report.ok else "red"
    out.print(f"[{colour}]{escape(report.summary_line())}[/]")


def _split_table(splits: dict, tokenizer: str, approximate: bool) -> Table:
    t = Table(title=f"tokens: {tokenizer}" + (" (APPROXIMATE)" if approximate else ""))
    for col in ("split", "examples", "tokens", "min", "median", "p95", "max"):
        t.add_column(col, justify="left" if col == "split" else "right")
    for name, s in splits.items():
        t.add_row(name, f"{s['examples']:,}", f"{s['tokens']:,}", str(s["min_tokens"]), f"{s['median_tokens']:g}",
                  f"{s['p95_tokens']:g}", str(s["max_tokens"]))
    return t
