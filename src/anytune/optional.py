"""Which extra brings each optional package, so a missing one is always one line naming what to install,
never a traceback (``cli.main`` turns any ``ModuleNotFoundError`` of these into :class:`MissingDependency`)."""

from __future__ import annotations

from .errors import MissingDependency

# top-level module -> (what it is for, the extra that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("training and local inference", "local"),
    "transformers": ("training and local inference", "local"),
    "peft": ("LoRA adapters", "local"),
    "accelerate": ("training", "local"),
    "safetensors": ("model files", "local"),
    "tensorboard": ("training logs", "local"),
    "rouge_score": ("the rouge_l metric", "local"),
    "sacrebleu": ("the bleu metric", "local"),
    "nltk": ("the rouge_l metric", "local"),
    "matplotlib": ("plots and reports", "plot"),
    "optuna": ("sweep.strategy: optuna", "sweep"),
    "mlflow": ("tracking.mlflow", "tracking"),
    "wandb": ("tracking.wandb", "tracking"),
    "fastapi": ("anytune serve", "serve"),
    "uvicorn": ("anytune serve", "serve"),
    "starlette": ("anytune serve", "serve"),
    "multipart": ("anytune serve's uploads", "serve"),
    "python_multipart": ("anytune serve's uploads", "serve"),
    "openai": ("OpenAI and OpenAI-compatible endpoints", "openai"),
    "presidio_analyzer": ("PII names and places (data.pii_engine: presidio)", "presidio"),
    "spacy": ("PII names and places (data.pii_engine: presidio)", "presidio"),
    "boto3": ("AWS SageMaker", "sagemaker"),
    "botocore": ("AWS SageMaker", "sagemaker"),
    "sagemaker": ("AWS SageMaker", "sagemaker"),
    "google": ("Google Vertex AI", "vertex"),
    "azure": ("Azure ML", "azureml"),
    "ray": ("your Ray cluster", "ray"),
}


def missing(exc: ModuleNotFoundError) -> MissingDependency | None:
    """The one-line error for a missing optional package, or None when ``exc`` is about something else."""
    top = (exc.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    what, extra = EXTRAS[top]
    return MissingDependency(f"{what} needs the {top} package, which is not installed: "
                             f"pip install 'anytune[{extra}]'")


def require(module: str) -> None:
    """Import ``module`` now, or raise the one-line MissingDependency for it."""
    import importlib

    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise (missing(exc) or exc) from None
