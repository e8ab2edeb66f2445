"""Playing Azure ML's side of a command job, as the control-plane server recorded it: bind the inputs
(download them from Azurite), give each output an empty folder, put local paths where the command says
``${{inputs.*}}`` / ``${{outputs.*}}``, run the command with bash in a fresh working directory, then
upload the outputs to their datastore paths (what the rw_mount outputs do), write the process output as
``user_logs/std_log.txt`` in the artifact store, and mark the job Completed (or Failed).

One thing differs from the container: pip runs with ``PIP_DRY_RUN=1 PIP_NO_INDEX=1`` (it must find every
requirement already installed, offline, and installs nothing into the test environment).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

from anytune_azureml._job import parse_datastore_uri

PLACEHOLDER = re.compile(r"\$\{\{\s*((?:inputs|outputs)\.\w+)\s*\}\}")


def _download_folder(container, prefix: str, dest: Path) -> None:
    for blob in container.list_blobs(name_starts_with=prefix):
        target = dest / blob.name[len(prefix):].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(container.download_blob(blob.name).readall())


def play(arm, name: str, *, service, root: Path, extra_env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Run job ``name``; returns (exit status, output lines)."""
    job = arm.job_body(name)["properties"]
    containers = {store: service.get_container_client(c) for store, c in arm.containers.items()}
    values: dict[str, str] = {}
    for key, binding in job["inputs"].items():
        store, path = parse_datastore_uri(binding["uri"])
        where = root / "inputs" / key
        where.mkdir(parents=True)
        if binding["jobInputType"] == "uri_file":
            target = where / PurePosixPath(path).name
            target.write_bytes(containers[store].download_blob(path).readall())
            values[f"inputs.{key}"] = str(target)
        else:
            _download_folder(containers[store], path, where)
            values[f"inputs.{key}"] = str(where)
    outputs = {}
    for key, binding in job["outputs"].items():
        outputs[key] = (root / "outputs" / key, *parse_datastore_uri(binding["uri"]))
        outputs[key][0].mkdir(parents=True)
        _download_folder(containers[outputs[key][1]], outputs[key][2], outputs[key][0])  # rw_mount: what is there
        values[f"outputs.{key}"] = str(outputs[key][0])
    command = PLACEHOLDER.sub(lambda m: values[m[1]], job["command"])
    assert "${{" not in command, command
    workdir = root / "wd"
    workdir.mkdir()
    env = {**os.environ, **job.get("environmentVariables", {}), "PIP_DRY_RUN": "1", "PIP_NO_INDEX": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "CUDA_VISIBLE_DEVICES": "", **(extra_env or {})}
    done = subprocess.run(["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=600)
    lines = (done.stdout + done.stderr).splitlines()

    for folder, store, prefix in outputs.values():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            blob = prefix.rstrip("/") + "/" + path.relative_to(folder).as_posix()
            containers[store].upload_blob(blob, path.read_bytes(), overwrite=True)
    log = "\n".join(lines) + "\n"
    containers["workspaceartifactstore"].upload_blob(f"ExperimentRun/dcid.{name}/user_logs/std_log.txt",
                                                     log.encode(), overwrite=True)
    arm.complete(name, "Completed" if done.returncode == 0 else "Failed")
    return done.returncode, lines


def bundled_anytune(root: Path) -> str:
    """Where ``import anytune`` resolves from the command's working folder (.anytune) after a run."""
    probe = subprocess.run([sys.executable, "-c", "import anytune; print(anytune.__file__)"],
                           cwd=root / "wd" / ".anytune", capture_output=True, text=True, check=True)
    return probe.stdout.strip()
