"""`anytune eval | chat | export | report`: judge a tuned model against its base, talk to it, export it,
and look at a job in one HTML page. Mounted by the main CLI; heavy imports happen inside each command."""


import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import ConfigError

out = Console()
err = Console(stderr=True)

TargetArg = Annotated[str, typer.Argument(help="A model or LoRA adapter folder, a job id (or unique prefix), or "
                                          "with --base-url a model id on an OpenAI-compatible endpoint.")]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint serving the model "
                       "(e.g. https://api.openai.com/v1, http://127.0.0.1:8000/v1).")]
KeyEnvOpt = Annotated[str, typer.Option("--api-key-env", help="NAME of the environment variable holding the "
                      "endpoint's key (never the key itself).")]
BaseOpt = Annotated[str | None, typer.Option("--base", help="An adapter's base model folder, when the one it "
                    "names is not on this machine.")]


def _target(target: str, base_url, api_key_env, base):
    from .models import resolve

    return resolve(target, base_url=base_url, api_key_env=api_key_env, base=base)


def _bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def eval_table(result: dict, roles: tuple[str, str] = ("base", "tuned")) -> Table:
    """Per metric: the other model (``roles[0]``), the model judged (``roles[1]``), their difference with its
    95% CI, and whether it is significant."""
    models = result.get("models", {})
    has_base = "base" in models
    table = Table(title=f"{result['examples']} {result.get('split') or 'held-out'} examples"
                        + (f": {models['tuned']} vs {models['base']}" if has_base else f": {models.get('tuned')}"))
    table.add_column("metric")
    if has_base:
        table.add_column(roles[0], justify="right")
    table.add_column(roles[1], justify="right")
    if has_base:
        for name in (f"{roles[1]} - {roles[0]}" if roles != ("base", "tuned") else "difference", "95% CI",
                     "significant?"):
            table.add_column(name, justify="right")
    for name, row in result["metrics"].items():
        cells = [name]
        if has_base:
            base = row.get("base")
            cells.append("—" if base is None else f"{base:.3f}")
        cells.append("—" if row.get("tuned") is None else f"{row['tuned']:.3f}")
        if has_base:
            if row.get("difference") is None:
                cells += ["—", "—", ""]
            else:
                lo, hi = row["ci95"]
                cells += [f"{row['difference']:+.3f}", f"{lo:+.3f} .. {hi:+.3f}",
                          "[green]yes[/]" if row["significant"] and row["difference"] > 0
                          else "[red]yes (worse)[/]" if row["significant"] else "no"]
        table.add_row(*cells)
    return table


def _eval_config(t, max_examples, max_new_tokens, metric):
    """The target's job's evaluation settings (else the defaults) with the command's options over them."""
    from pydantic import ValidationError

    from .spec import EvaluationSpec

    spec_eval = t.record.spec.evaluation if t.record is not None else EvaluationSpec()
    changes = {k: v for k, v in (("max_examples", max_examples), ("max_new_tokens", max_new_tokens),
                                 ("metrics", metric)) if v}
    try:
        return spec_eval.model_validate({**spec_eval.model_dump(), **changes})
    except ValidationError as exc:
        raise ConfigError("invalid evaluation options",
                          [f"--{'metric' if e['loc'][0] == 'metrics' else e['loc'][0]}: {e['msg']}"
                           for e in exc.errors()]) from None


def _evaluate(examples, tuned, other, config, t, grader=None, split=""):
    """Generate and score with a progress bar per model."""
    from .evaluation import evaluate

    seed = t.record.spec.hyperparameters.seed if t.record is not None else 0
    with _bar() as bar:
        tasks: dict[str, int] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(f"generating: {label}" if not label.startswith("judge") else label,
                                            total=total)
            bar.update(tasks[label], completed=done)

        return evaluate(examples, tuned, other, config, seed=seed, judge=grader, split=split, progress=progress)


def _examples_for(t, data: str | None, columns: list[str] | None, limit: int):
    from .evaluation import load_examples

    if data:
        from .data import DataOptions, prepare

        mapping = {}
        for c in columns or []:
            if "=" not in c:
                raise ConfigError(f"--column {c!r}: write canonical=source, e.g. -c prompt=question")
            k, v = c.split("=", 1)
            mapping[k.strip()] = v.strip()
        prepared = prepare(DataOptions(train=data, split=(1.0, 0.0, 0.0), columns=mapping, max_seq_length=None,
                                       count_tokens=False, origin="cli"))
        return "data", load_examples(prepared.files["train"], limit=limit)
    rec = t.record
    if rec is None:
        raise ConfigError(f"no data to evaluate {t.label} on", ["pass --data FILE (JSONL, CSV, Parquet, ...)"])
    for split in ("test", "validation"):
        path = Path(rec.data_dir) / f"{split}.jsonl"
        if path.is_file():
            return split, load_examples(path, limit=limit)
    raise ConfigError(f"job {rec.id} has no held-out split on this machine ({rec.data_dir})",
                      ["pass --data FILE"])


def eval_cmd(
    target: TargetArg,
    data: Annotated[str | None, typer.Option("--data", help="Held-out data with references (any format `anytune "
                    "data` reads). Default for a job: its test split, else its validation split.")] = None,
    column: Annotated[list[str] | None, typer.Option("--column", "-c", help="Map a column of --data: canonical="
                      "source, e.g. -c prompt=question -c completion=answer.")] = None,
    against: Annotated[str, typer.Option("--against", help="What to compare with: 'base' (the model it was tuned "
                       "from), 'none', or another model folder, job id or (with --base-url) model id.")] = "base",
    base_url: BaseUrlOpt = None, api_key_env: KeyEnvOpt = "OPENAI_API_KEY", base: BaseOpt = None,
    max_examples: Annotated[int | None, typer.Option(min=1, help="Score the first N examples (default: the "
                            "job's evaluation.max_examples, else 200).")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(min=1, help="Longest answer (default 256).")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m", help="exact_match, token_f1, rouge_l, "
                      "bleu (repeat; default all).")] = None,
    judge: Annotated[str | None, typer.Option("--judge", help="LLM-as-judge: a chat model grading each answer "
                     "against the reference (1-10).")] = None,
    judge_base_url: Annotated[str | None, typer.Option("--judge-base-url", help="The judge's OpenAI-compatible "
                              "endpoint (default: OpenAI).")] = None,
    judge_key_env: Annotated[str, typer.Option("--judge-api-key-env", help="NAME of the variable holding the "
                             "judge endpoint's key.")] = "OPENAI_API_KEY",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write eval.json and samples.jsonl into "
                      "this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print eval.json instead of the table.")] = False,
):
    """Score a model's answers on held-out data against the references, side by side with its base."""
    from . import models
    from .evaluation import write

    t = _target(target, base_url, api_key_env, base)
    config = _eval_config(t, max_examples, max_new_tokens, metric)
    split, examples = _examples_for(t, data, column, config.max_examples)
    tuned = models.engine(t, batch_size=config.batch_size)
    if against == "none":
        other = None
    elif against == "base":
        other = models.base_engine(t, tuned)
    else:
        o = models.resolve(against, base_url=base_url, api_key_env=api_key_env)
        other = models.engine(o, batch_size=config.batch_size)
    grader = None
    if judge:
        from .evaluation.judge import Judge
        from .inference.remote import ChatAPIEngine, client

        grader = Judge(ChatAPIEngine(judge, client(judge_base_url, judge_key_env), label=judge,
                                     where=f"judge {judge_base_url or 'OpenAI'}"))
    result = _evaluate(examples, tuned, other, config, t, grader, split)
    if output is not None:
        write(result, output)
    if as_json:
        print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
        return
    out.print(eval_table(result))
    gen = result["generation"]
    for role, g in gen.items():
        out.print(f"[dim]{role} ({g['model']}): {g['completion_tokens']} tokens in {g['seconds']:.1f}s"
                  + (f", {g['cut_at_max_new_tokens']} answers cut at max_new_tokens" if g["cut_at_max_new_tokens"]
                     else "") + "[/]")
    if output is not None:
        out.print(f"wrote {output / 'eval.json'} and {output / 'samples.jsonl'}")


def ab_cmd(
    job_a: Annotated[str, typer.Argument(help="Run A: a job id, a model folder, or with --base-url a model id.")],
    job_b: Annotated[str, typer.Argument(help="Run B, the same kinds (e.g. a local LoRA against an OpenAI "
                     "fine-tune's job id).")],
    data: Annotated[str | None, typer.Option("--data", help="Held-out data with references. Default: A's test "
                    "split, else its validation split (else B's).")] = None,
    column: Annotated[list[str] | None, typer.Option("--column", "-c", help="Map a column of --data: canonical="
                      "source.")] = None,
    base_url: BaseUrlOpt = None, api_key_env: KeyEnvOpt = "OPENAI_API_KEY",
    max_examples: Annotated[int | None, typer.Option(min=1, help="Score the first N examples.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(min=1, help="Longest answer (default 256).")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m", help="exact_match, token_f1, rouge_l, "
                      "bleu (repeat; default all).")] = None,
    samples: Annotated[int, typer.Option(min=0, help="Sample answers shown side by side.")] = 3,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write eval.json and samples.jsonl (base "
                      "= A, tuned = B) into this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print eval.json instead of the tables.")] = False,
):
    """A/B test of two runs: both answer the same held-out examples; for each metric, B - A with its 95%
    paired-bootstrap confidence interval and whether the difference is significant; answers side by side."""
    from . import models
    from .evaluation import write

    a = _target(job_a, base_url, api_key_env, None)
    b = _target(job_b, base_url, api_key_env, None)
    config = _eval_config(a if a.record is not None else b, max_examples, max_new_tokens, metric)
    try:
        split, examples = _examples_for(a, data, column, config.max_examples)
    except ConfigError:
        if b.record is None:
            raise
        split, examples = _examples_for(b, data, column, config.max_examples)
    engine_a = models.engine(a, batch_size=config.batch_size, label=f"A: {a.label}")
    engine_b = models.engine(b, batch_size=config.batch_size, label=f"B: {b.label}")
    result = _evaluate(examples, engine_b, engine_a, config, a, split=split)
    if output is not None:
        write(result, output)
    if as_json:
        print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
        return
    out.print(eval_table(result, roles=("A", "B")))
    if samples:
        table = Table("prompt", "reference", "A", "B", title="sample answers", show_lines=True)
        for s in result["samples"][:samples]:
            prompt = next((m["content"] for m in reversed(s["messages"]) if m.get("role") == "user"), "")
            table.add_row(escape(prompt), escape(s["reference"]), escape(s["base"]), escape(s["tuned"]))
        out.print(table)


def chat_cmd(
    target: TargetArg,
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="Answer this one message and exit.")] = None,
    system: Annotated[str | None, typer.Option("--system", help="System message (default: the job's "
                      "data.system_prompt).")] = None,
    base_url: BaseUrlOpt = None, api_key_env: KeyEnvOpt = "OPENAI_API_KEY", base: BaseOpt = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Longest answer.")] = 256,
    temperature: Annotated[float, typer.Option(min=0, max=2, help="0 = greedy.")] = 0.0,
):
    """Talk to a model in the terminal. Type /reset to start over, /system TEXT to set the system message,
    /exit (or Ctrl-D) to leave."""
    from . import models
    from .inference import GenerationParams, Prompt

    t = _target(target, base_url, api_key_env, base)
    if system is None and t.record is not None:
        system = t.record.spec.data.system_prompt
    engine = models.engine(t)
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature)

    def start() -> list[dict[str, str]]:
        return [{"role": "system", "content": system}] if system else []

    def answer(history: list[dict[str, str]]) -> str:
        pieces = []
        for piece in engine.stream(Prompt.chat(history), params):
            pieces.append(piece)
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        return "".join(pieces).strip()

    history = start()
    if prompt is not None:
        answer(history + [{"role": "user", "content": prompt}])
        return
    interactive = sys.stdin.isatty()
    if interactive:
        err.print(f"chatting with [bold]{escape(t.label)}[/] — /reset, /system TEXT, /exit")
    while True:
        if interactive:
            sys.stdout.write("> ")
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        if line in ("/exit", "/quit"):
            break
        if line == "/reset":
            history = start()
            err.print("[dim](conversation cleared)[/]")
            continue
        if line.startswith("/system"):
            system = line[len("/system"):].strip() or None
            history = start() + [m for m in history if m["role"] != "system"]
            err.print(f"[dim](system message {'set' if system else 'removed'})[/]")
            continue
        if line.startswith("/"):
            err.print(f"[yellow]unknown command {escape(line.split()[0])}[/]: /reset, /system TEXT, /exit")
            continue
        history.append({"role": "user", "content": line})
        history.append({"role": "assistant", "content": answer(history)})


def export_cmd(
    target: TargetArg,
    merge: Annotated[bool, typer.Option("--merge", help="Merge a LoRA adapter into its base model.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Destination folder (default: "
                      "<model folder>-merged next to it).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="hf (safetensors + tokenizer). gguf is not built in: "
                   "see `anytune export --help`'s docs.")] = "hf",
    base: BaseOpt = None,
):
    """Export a model as a plain Hugging Face folder that loads with transformers alone (no peft)."""
    from .export import GGUF_HINT, default_output, export

    if fmt == "gguf":
        raise ConfigError(GGUF_HINT)
    if fmt != "hf":
        raise ConfigError(f"--format {fmt!r}: use hf")
    from .models import resolve

    t = resolve(target, base=base)
    dest = output or (default_output(t) if t.path else Path(f"{t.label}-merged"))
    with err.status("merging the adapter into its base…" if merge else "copying…"):
        path = export(t, dest, merge=merge)
    out.print(f"exported to [bold]{escape(str(path))}[/] (load it with AutoModelForCausalLM.from_pretrained)")


def report_cmd(
    target: Annotated[str | None, typer.Argument(help="A job id (default: the latest job) or a model folder.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The HTML file (default: "
                      "<model folder>-report.html next to the model).")] = None,
):
    """Write one self-contained HTML page: loss curves, evaluation base vs tuned, sample answers, data, cost."""
    from .models import resolve
    from .report.job import default_path, write
    from .store import JobStore

    t = resolve(target or JobStore().latest().id)
    if t.path is None:
        raise ConfigError(f"{t.label} has no files on this machine to report on")
    path = write(t, output or default_path(t))
    out.print(f"report: [bold]{escape(str(path))}[/]")
