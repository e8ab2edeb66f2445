"""``anytune serve``: run the OpenAI-compatible fine-tuning server (mounted by the lead's CLI).

Light to import: FastAPI and uvicorn load only when the command runs.
"""


from pathlib import Path
from typing import Annotated

import typer

from .cli_errors import App
from .defaults import DEFAULT_PROVIDER
from .errors import ConfigError

app = App(help="Serve an OpenAI-compatible fine-tuning API on this machine's GPUs.")


def _gpu_count() -> int:
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return 1
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return 1
    return max(1, sum(1 for line in out.stdout.splitlines() if line.startswith("GPU ")))


def _can_pin_gpus(provider: str) -> bool:
    """Whether the training provider takes ``visible_devices`` (one GPU per job, so one job per GPU)."""
    from . import registry

    return "visible_devices" in registry.get_registry().get_class(provider).Options.model_fields


@app.callback(invoke_without_command=True)
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="A base model clients may fine-tune: "
                     "alias=path of a local model folder (repeat for more).")] = None,
    keys_file: Annotated[Path | None, typer.Option(help="API keys, one per line (default: "
                         "<config dir>/serve-api-keys); $ANYTUNE_SERVE_API_KEYS adds more. 'KEY "
                         "scopes=models,inference' restricts a key (scopes: files, fine_tuning, models, "
                         "inference).")] = None,
    new_key: Annotated[bool, typer.Option("--new-key", help="Add a new random key to the keys file and exit.")] = False,
    home: Annotated[Path | None, typer.Option(help="Where files, jobs and models are kept "
                    "(default: $ANYTUNE_HOME/serve).")] = None,
    gpus: Annotated[int | None, typer.Option(help="Trainings at once, one per GPU (default: GPUs found, "
                    "or 1).")] = None,
    method: Annotated[str, typer.Option(help="How jobs train: lora, qlora or full.")] = "lora",
    learning_rate: Annotated[float, typer.Option(help="The learning rate a multiplier of 1.0 means.")] = 2e-4,
    max_seq_length: Annotated[int, typer.Option(help="Tokens per example; longer ones are cut.")] = 1024,
    max_upload_mb: Annotated[int, typer.Option(help="Largest file accepted (413 above).")] = 512,
    provider: Annotated[str, typer.Option(help="The anytune provider that trains.")] = DEFAULT_PROVIDER,
    engine: Annotated[str, typer.Option(help="What answers chat and completions: transformers (CPU or GPU) or vllm "
                      "(a CUDA machine with vLLM installed; LoRA adapters as vLLM LoRA modules).")] = "transformers",
    poll_seconds: Annotated[float, typer.Option(hidden=True, help="How often running jobs are checked.")] = 2.0,
) -> None:
    """Serve OpenAI's fine-tuning API (/v1/files, /v1/fine_tuning/jobs, /v1/models) and inference with what it
    trains (/v1/chat/completions, /v1/completions); point any OpenAI client at http://HOST:PORT/v1."""
    from .optional import require
    from .serve import config as cfg

    for module in ("fastapi", "uvicorn", "multipart"):  # before anything else: one line naming [serve]
        require(module)
    if new_key:
        path = cfg.new_key(keys_file)
        typer.echo(f"added a key to {path}; clients use it as their API key, e.g.\n"
                   f"  export OPENAI_API_KEY=$(tail -n1 {path})")
        return
    if method not in ("lora", "qlora", "full"):
        raise ConfigError(f"--method {method!r}: choose lora, qlora or full")
    count = gpus or _gpu_count()
    if count > 1 and not _can_pin_gpus(provider):
        typer.echo(f"note: the {provider} provider cannot pin a job to one GPU, so jobs run one at a time, "
                   "each on every GPU", err=True)
        count = 1
    from .inference.serving import check

    check(engine)
    keys = cfg.load_scoped_keys(keys_file)
    config = cfg.ServeConfig(
        home=(home or cfg.default_home()).expanduser().absolute(), api_keys=tuple(keys),
        key_scopes={k: v for k, v in keys.items() if v is not None},
        models=cfg.parse_model_aliases(model or []), max_upload_bytes=max_upload_mb * cfg.MIB, slots=count,
        devices=tuple(str(i) for i in range(count)) if count > 1 else (), provider=provider, method=method,
        learning_rate=learning_rate, max_seq_length=max_seq_length, poll_interval=poll_seconds, engine=engine)
    run(config, host, port)


def run(config, host: str, port: int) -> None:
    import uvicorn

    from .serve import create_app

    aliases = ", ".join(f"{a} -> {p}" for a, p in config.models.items()) or "none (clients give model folder paths)"
    typer.echo(f"anytune serve: http://{host}:{port}/v1  state: {config.home}  models: {aliases}  "
               f"trainings at once: {config.slots}")
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")


def main() -> None:  # `python -m anytune.serve` (before the lead mounts `anytune serve`)
    from .cli_errors import run

    run(app)
