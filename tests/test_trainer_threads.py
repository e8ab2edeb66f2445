"""The trainer's OpenMP wait policy: spin on free cores, sleep on cores other work keeps busy, the user's
setting always kept. The speed of each choice is measured by benchmarks/train_throughput.py, not here."""

from __future__ import annotations

import os
import subprocess
import sys

from anytune.trainer.threads import busy_cores, choose_wait_policy


def stat(jiffies: dict[int, tuple[int, int]]) -> str:
    """A /proc/stat text: per CPU (busy user jiffies, idle jiffies)."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    lines += [f"cpu{n} {busy} 0 0 {idle} 0 0 0 0 0 0" for n, (busy, idle) in jiffies.items()]
    return "\n".join(lines + ["intr 1 2 3", "ctxt 5"]) + "\n"


def readings(*texts: str):
    it = iter(texts)
    return lambda: next(it)


def test_busy_cores_counts_only_this_processs_cpus():
    cpus = sorted(os.sched_getaffinity(0))
    before = {n: (100, 100) for n in cpus} | {max(cpus) + 1: (0, 0)}
    # every CPU of ours busy half the time; a CPU outside our affinity set busy all the time
    after = {n: (150, 150) for n in cpus} | {max(cpus) + 1: (1000, 0)}
    busy = busy_cores(0, read=readings(stat(before), stat(after)))
    assert busy == len(cpus) * 0.5


def test_shared_cores_sleep_free_cores_spin_and_the_users_setting_wins():
    env: dict[str, str] = {}
    assert choose_wait_policy(env, measure=lambda: 0.1) is None and "OMP_WAIT_POLICY" not in env
    reason = choose_wait_policy(env, measure=lambda: 1.0)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and "1.0 of this process's cores busy" in reason
    mine = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert choose_wait_policy(mine, measure=lambda: 2.0) is None and mine["OMP_WAIT_POLICY"] == "ACTIVE"
    unknown: dict[str, str] = {}
    assert choose_wait_policy(unknown, measure=lambda: None) is None and not unknown


def test_a_busy_process_alongside_is_seen():
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert busy_cores(0.5) >= 0.5
    finally:
        hog.kill()
        hog.wait()
