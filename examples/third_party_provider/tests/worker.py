"""A stand-in for the worker that drains the spool: it 'trains' by writing an adapter file and its manifest."""

import json
from pathlib import Path

from anytune.artifacts import write_manifest


def drain(spool: Path, job_id: str) -> None:
    job = Path(spool) / job_id
    request = json.loads((job / "job.json").read_text())
    model = job / "model"
    model.mkdir(parents=True, exist_ok=True)
    (model / "adapter.json").write_text(json.dumps({"trained_on": request["data"]["train"]}))
    write_manifest(model)
    (job / "log.txt").write_text("worker picked up the job\nworker finished\n")
    (job / "status").write_text("succeeded")
