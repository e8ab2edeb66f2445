"""``python -m anytune_local._runner EXIT_FILE -- COMMAND...``: run COMMAND, then record how it ended.

The local provider starts this detached (its own session and process group). It writes
``{"returncode": N, "ended_at": ...}`` to EXIT_FILE atomically when COMMAND ends, so any later process
can tell success from failure. SIGTERM sent to the group reaches COMMAND too; the runner survives it
long enough to record the exit code (only SIGKILL prevents that, and the provider knows it sent one).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m anytune_local._runner EXIT_FILE -- COMMAND...", file=sys.stderr)
        return 2
    exit_file, command = argv[0], argv[2:]
    # The group's SIGTERM is for the trainer; the runner stays to write down how it ended.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        returncode = subprocess.call(command)
    except OSError as exc:
        print(f"cannot start the trainer: {exc}", file=sys.stderr, flush=True)
        returncode = 127
    tmp = exit_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"returncode": returncode, "ended_at": time.time()}, f)
    os.replace(tmp, exit_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
