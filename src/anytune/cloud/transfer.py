"""Count the bytes a vendor's transfer manager moves and show them as one progress bar.

The transfer managers (boto3/s3transfer, google-cloud-storage, azure-storage-blob) report progress
through callbacks from their worker threads; :class:`ByteCounter` is such a callback. The bar is drawn
only on a terminal, so logs and tests stay clean; the count is kept either way and is what a provider
reports as ``DataRef.bytes_sent``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..crashpoints import crashpoint

if TYPE_CHECKING:  # rich.progress loads when a bar is drawn: provider modules import this one
    from rich.console import Console
    from rich.progress import Progress, TaskID


class ByteCounter:
    """A thread-safe ``callback(n)`` that adds ``n`` bytes to a total and to a progress bar."""

    def __init__(self, progress: Progress | None = None, task: TaskID | None = None):
        self._lock = threading.Lock()
        self._progress, self._task = progress, task
        self.total = 0

    def __call__(self, n: int) -> None:
        with self._lock:
            self.total += n
        crashpoint("cloud:uploading")
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)


@contextmanager
def transfer_progress(description: str, total_bytes: int, *, console: Console | None = None) -> Iterator[ByteCounter]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = console or Console(stderr=True)
    if not console.is_terminal or total_bytes <= 0:
        yield ByteCounter()
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        yield ByteCounter(progress, progress.add_task(description, total=total_bytes))
