"""What this machine has, found without importing torch: GPUs (nvidia-smi), memory, disk."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_total_mb: int
    memory_free_mb: int


def gpus(timeout: float = 10.0, visible: str | None = None) -> list[Gpu]:
    """NVIDIA GPUs the driver reports, limited to ``visible`` (indices "0,2"; default $CUDA_VISIBLE_DEVICES);
    [] when none or no driver."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    if visible == "" or shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.total,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = {}
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4 and parts[2].isdigit() and parts[3].isdigit():
            found[parts[0]] = Gpu(parts[1], int(parts[2]), int(parts[3]))
    if visible:
        return [found[i] for i in (v.strip() for v in visible.split(",")) if i in found]
    return list(found.values())


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else free physical pages; None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def free_disk_bytes(path: Path) -> int:
    """Free space on the file system holding ``path`` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def gib(n: int | None) -> str:
    return "unknown" if n is None else f"{n / 2**30:.1f} GiB"
