"""``python _runner.py EXIT_FILE MAX_SECONDS -- COMMAND...``: run COMMAND, then record how it ended.

The local provider starts this detached (its own session and process group). Once COMMAND started it
writes ``runner.json`` beside EXIT_FILE (``{"runner_pid", "trainer_pid", "started_at"}``, atomically),
so the job is findable from its folder even when whoever launched it died before recording it. It writes
``{"returncode": N, "ended_at": T, "timed_out": bool}`` to EXIT_FILE atomically when COMMAND ends, so
any later process can tell success from failure. SIGTERM sent to the group reaches COMMAND too; the
runner survives it long enough to record the exit code (only SIGKILL prevents that, and the provider
knows it sent one). After MAX_SECONDS (the spec's compute.max_hours) COMMAND gets SIGTERM, then
SIGKILL 30 s later. Standard library only: it runs under any interpreter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

KILL_AFTER = 30.0


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python _runner.py EXIT_FILE MAX_SECONDS -- COMMAND...", file=sys.stderr)
        return 2
    exit_file, limit, command = argv[0], float(argv[1]), argv[3:]
    # The group's SIGTERM is for the trainer; the runner stays to write down how it ended.
    signal.signal(signal.SIGTERM, lambda *_: None)
    timed_out = False
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        print(f"cannot start the trainer: {exc}", file=sys.stderr, flush=True)
        returncode = 127
    else:
        _write(os.path.join(os.path.dirname(exit_file), "runner.json"),
               {"runner_pid": os.getpid(), "trainer_pid": child.pid, "started_at": time.time()})
        try:
            returncode = child.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            print(f"stopping the trainer: it ran longer than {limit:.0f} s (compute.max_hours)", flush=True)
            child.terminate()
            try:
                returncode = child.wait(timeout=KILL_AFTER)
            except subprocess.TimeoutExpired:
                child.kill()
                returncode = child.wait()
    _write(exit_file, {"returncode": returncode, "ended_at": time.time(), "timed_out": timed_out})
    return 0


def _write(path: str, record: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
