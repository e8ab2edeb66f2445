"""Named points where a test kills this process, to show that anytune recovers from a crash there.

    crashpoint("submit:recorded")      # SIGKILL here when ANYTUNE_CRASH_AT names this point

``ANYTUNE_CRASH_AT`` holds point names, comma-separated. Unset (always, outside the crash tests) a point
costs one environment lookup. SIGKILL, not an exception: nothing after the point runs, no handler, no
``finally``, as when the machine loses power or the OOM killer strikes.
"""

from __future__ import annotations

import os
import signal

POINTS = {
    "submit:recorded": "the job is in the store; nothing uploaded yet",
    "submit:uploaded": "the data is uploaded; nothing launched",
    "submit:launched": "the provider started the job; its handle is not recorded yet",
    "local:started": "the local trainer process started; its handle.json is not written yet",
    "retrieve:copying": "half of the model's files are copied",
    "cloud:uploading": "a cloud upload has sent some of its bytes, not all (the plugins' crash tests)",
    "cloud:created": "the cloud answered the create of the job; nothing else is known of it yet",
    "sweep:recorded": "the sweep is in the store; no trial launched yet",
    "sweep:launched": "a sweep launched a trial (its job is recorded and running); the sweep process dies",
    "trainer:saved": "the trainer saved a whole checkpoint (the cloud resume tests kill it there, in the container)",
}


def crashpoint(name: str) -> None:
    at = os.environ.get("ANYTUNE_CRASH_AT")
    if at and name in at.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
