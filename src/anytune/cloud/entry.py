"""``python -m anytune.cloud.entry --base-model PATH [trainer arguments]``: start ``anytune.trainer`` in a
cloud container whose base model was a local folder, uploaded with the job.

``--base-model`` is taken out of the arguments; the job spec named by ``--spec`` is copied with its
``base_model`` set to PATH (a ``gs://`` URI is read through the Cloud Storage FUSE mount, as the trainer
reads its data), and the trainer runs with the copy and every other argument. This runs in the container
from the trainer bundle (:mod:`anytune.cloud.bundle`) and imports only anytune's light modules before
the trainer itself.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ..errors import AnytuneError, ConfigError
from ..trainer.platform import gcs_fuse


def _take(argv: list[str], flag: str) -> tuple[str | None, list[str]]:
    """The value of ``flag`` (``--flag V`` or ``--flag=V``) and the arguments without it."""
    for i, arg in enumerate(argv):
        if arg == flag:
            if i + 1 >= len(argv):
                raise ConfigError(f"{flag} needs a value")
            return argv[i + 1], [*argv[:i], *argv[i + 2:]]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1], [*argv[:i], *argv[i + 1:]]
    return None, argv


def with_base_model(argv: list[str], workdir: Path) -> list[str]:
    """The trainer's arguments: ``--base-model`` applied to a copy of the ``--spec`` file."""
    model, rest = _take(argv, "--base-model")
    if not model:
        return rest
    spec, rest = _take(rest, "--spec")
    if not spec:
        raise ConfigError("--base-model needs --spec SPEC.json (the spec whose base_model it replaces)")
    source = Path(gcs_fuse(spec) or spec)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the job spec {source}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the job spec {source} is not a JSON object")
    data["base_model"] = gcs_fuse(model)
    target = workdir / "spec.json"
    target.write_text(json.dumps(data), encoding="utf-8")
    return ["--spec", str(target), *rest]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = with_base_model(argv, Path(tempfile.mkdtemp(prefix="anytune-spec-")))
    except AnytuneError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    from ..trainer.cli import main as train

    return train(argv)


if __name__ == "__main__":
    raise SystemExit(main())
