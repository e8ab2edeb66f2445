"""``anytune openai migrate``: bring a team's OpenAI fine-tunes over as anytune job specs (mounted by the main
CLI; the openai client is imported when the command runs)."""


from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .cli_errors import App
from .defaults import DEFAULT_PROVIDER

out = Console()
err = Console(stderr=True)

app = App(help="Move off OpenAI fine-tuning: turn its jobs into anytune job specs.", no_args_is_help=True)


@app.command("migrate")
def migrate_cmd(
    base_model: Annotated[str, typer.Option("--base-model", help="The open model to retrain on each job's data: "
                                            "a Hugging Face id or a local folder.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="One folder per job is written here: job.yaml, "
                                         "train.jsonl, validation.jsonl, references.jsonl.")] = Path("migrated"),
    provider: Annotated[str, typer.Option(help="Where the specs train (any provider name, or a,b fallback).")] = DEFAULT_PROVIDER,
    method: Annotated[str, typer.Option(help="full | lora | qlora for the new model.")] = "lora",
    learning_rate: Annotated[float | None, typer.Option("--learning-rate", help="The rate OpenAI's "
                             "learning_rate_multiplier multiplies (default: anytune's for the method, multiplier "
                             "dropped).", min=0)] = None,
    job: Annotated[list[str] | None, typer.Option("--job", help="Migrate this job (any state); repeat for more. "
                                                  "Default: every succeeded job.")] = None,
    evaluate: Annotated[bool, typer.Option("--evaluate", help="Ask each job's ft: model to answer its validation "
                                           "prompts and make those answers the spec's test split, so the new "
                                           "model's evaluation scores it against the model it replaces.")] = False,
    max_examples: Annotated[int, typer.Option(help="With --evaluate: prompts per job.", min=1)] = 200,
    max_tokens: Annotated[int, typer.Option(help="With --evaluate: longest answer recorded.", min=1)] = 256,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible API (default: OpenAI's).")] = None,
    api_key_env: Annotated[str, typer.Option("--api-key-env", help="NAME of the environment variable holding the "
                                             "key (never the key itself).")] = "OPENAI_API_KEY",
) -> None:
    """Turn your OpenAI fine-tuning jobs into anytune job specs, one folder each.

    Data, method, epochs, batch size and seed carry over (the learning-rate multiplier too, given
    --learning-rate); the base model does not. Then `anytune run migrated/<name>/job.yaml`, and point your
    application at `anytune serve`."""
    from . import openai_migrate as mig
    from .errors import ConfigError
    from .inference.remote import client

    if method not in ("full", "lora", "qlora"):
        raise ConfigError(f"--method {method}: use full, lora or qlora")
    api = client(base_url, api_key_env, max_retries=2)
    jobs = mig.list_jobs(api, job)
    if not jobs:
        err.print("no succeeded fine-tuning jobs to migrate (name one with --job)")
        raise typer.Exit(1)
    done = []
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bar:
        for j in jobs:
            task = bar.add_task(f"{j.id}", total=max_examples if evaluate else None)
            done.append(mig.migrate_job(api, j, output, base_model=base_model, method=method, provider=provider,
                                        evaluate=evaluate, learning_rate=learning_rate,
                                        max_examples=max_examples, max_tokens=max_tokens,
                                        on_progress=lambda n, t=task: bar.advance(t, n)))
            bar.remove_task(task)
    table = Table(title=f"{len(done)} OpenAI fine-tuning job(s) -> {output}")
    for col in ("job", "fine-tuned model", "examples", "references", "spec"):
        table.add_column(col)
    for m in done:
        examples = ", ".join(f"{k} {v}" for k, v in m.examples.items())
        table.add_row(m.job_id, m.fine_tuned_model or "—", examples or "—", str(m.references) if evaluate and m.spec else "—",
                      escape(str(m.spec)) if m.spec else f"[red]not written: {escape(m.problem)}[/red]")
    out.print(table)
    for m in done:
        for note in m.notes:
            err.print(f"{m.job_id}: {escape(note)}")
    written = [m for m in done if m.spec]
    if written:
        out.print(f"next: anytune run {escape(str(written[0].spec))}"
                  + (f"  (and {len(written) - 1} more)" if len(written) > 1 else ""))
    if len(written) < len(done):
        raise typer.Exit(1)
