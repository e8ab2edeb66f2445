"""OpenMP's wait policy for the machine the trainer runs on, chosen before torch loads OpenMP.

Between parallel regions OpenMP's worker threads either spin for a while (the default) or sleep at once
(``OMP_WAIT_POLICY=PASSIVE``). Spinning is faster on cores nobody else uses: a training step hands work to
the threads hundreds of times, and waking a sleeping thread costs more than the work. On cores shared with
other busy processes the spinning threads steal time from the thread that has work, and steps get several
times slower. So the trainer looks at how busy this process's CPUs are for a moment before it starts and
picks PASSIVE only when other work is running there. Figures: benchmarks/train_throughput.py (``--load``)
and docs/architecture.md. A user's own ``OMP_WAIT_POLICY`` always wins.
"""

from __future__ import annotations

import os
import time
from collections.abc import MutableMapping

BUSY_CORES = 0.5  # other processes using at least half a core of ours: sleep, do not spin


def _cpu_times(cpus: set[int], stat: str) -> tuple[int, int] | None:
    """(busy, total) jiffies summed over ``cpus`` from /proc/stat's text."""
    busy = total = 0
    seen = 0
    for line in stat.splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        values = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
        total += sum(values)
        busy += sum(values) - values[3] - values[4]
        seen += 1
    return (busy, total) if seen else None


def busy_cores(interval: float = 0.2, read=None) -> float | None:
    """How many of this process's CPUs other work keeps busy, measured over ``interval`` seconds (None
    where /proc/stat cannot be read)."""
    read = read or (lambda: open("/proc/stat", encoding="ascii").read())
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    try:
        first = _cpu_times(cpus, read())
        time.sleep(interval)
        second = _cpu_times(cpus, read())
    except (OSError, ValueError):
        return None
    if first is None or second is None or second[1] <= first[1]:
        return None
    return len(cpus) * (second[0] - first[0]) / (second[1] - first[1])


def choose_wait_policy(env: MutableMapping[str, str], measure=busy_cores) -> str | None:
    """Set ``OMP_WAIT_POLICY`` in ``env`` when the CPUs are shared and the user has not set it; returns the
    reason, for the log."""
    if "OMP_WAIT_POLICY" in env:
        return None
    busy = measure()
    if busy is not None and busy >= BUSY_CORES:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
        return f"other work keeps {busy:.1f} of this process's cores busy: OMP_WAIT_POLICY=PASSIVE"
    return None
