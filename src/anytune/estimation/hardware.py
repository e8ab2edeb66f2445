"""Provider-neutral GPU catalog: memory, peak dense FLOP/s and default MFU per training method.

Peak figures are NVIDIA's dense (no sparsity) bf16 tensor-core numbers; T4 and V100 have no bf16, so
their fp16 figure is used (training runs in fp16 there). Memory is what ``nvidia-smi`` reports as
memory.total (MiB; ECC on where the card has it) — a "24 GB" card holds 22.5–24 GiB, not 24·10⁹ bytes.

MFU (model FLOPs utilisation) is measured the way published fine-tuning runs are: with activation
checkpointing on. Each class says where its figures come from (docs/estimation.md, "MFU defaults");
`anytune calibrate` replaces them with a figure measured on the local GPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GB = 1e9  # the catalog speaks decimal gigabytes, as the vendors' spec sheets do


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gb: float  # the vendor's nominal size ("24 GB")
    peak_tflops: float  # dense bf16 (fp16 on T4/V100)
    bf16: bool = True
    mfu: dict[str, float] = field(default_factory=dict)  # method -> planning MFU (checkpointing on)
    source: str = ""
    memory_mib: int = 0  # nvidia-smi memory.total; 0 = unknown, nominal GiB used

    def default_mfu(self, method: str) -> float:
        return self.mfu.get(method, self.mfu.get("full", 0.3))

    @property
    def memory_bytes(self) -> float:
        return (self.memory_mib or self.memory_gb * 1024) * 2**20


# MFU with activation checkpointing on, per class. Sources in docs/estimation.md ("MFU defaults").
# Workstation/consumer Ada and Ampere: torchtune's README table, RTX 4090, Llama 3.1 8B at batch 2 × 2048
# packed: full 1650 tok/s (0.48), LoRA 3083 (0.62), QLoRA 2413 (0.49); defaults set ~10 % under them.
_DESK = {"full": 0.45, "lora": 0.55, "qlora": 0.45}
# A100/H100/H200: torchtune's 8× A100 runs, per GPU after the 0.9 multi-GPU efficiency: Llama 3.1 70B
# LoRA 3497 tok/s (0.46), 405B QLoRA 653 (0.48), 70B full with CPU offload 1568 (0.30, offload-bound).
_BIG = {"full": 0.35, "lora": 0.42, "qlora": 0.36}
# Data-centre inference cards (L4 72 W, L40S, A10): no published fine-tuning run found; power- and
# bandwidth-limited, so planned at ~0.65 of the desk class. Planning assumption.
_MID = {"full": 0.30, "lora": 0.35, "qlora": 0.28}
# T4/V100 (fp16, no flash attention 2) and A10G (capped clocks): planning assumption.
_LOW = {"full": 0.25, "lora": 0.25, "qlora": 0.15}

_DS = "https://www.nvidia.com/en-us/data-center/"  # data-sheet family page

GPUS: dict[str, Gpu] = {g.name: g for g in [
    Gpu("T4", 16, 65, bf16=False, mfu=_LOW, source=_DS + "tesla-t4/", memory_mib=15360),
    Gpu("V100", 16, 125, bf16=False, mfu=_LOW, source=_DS + "v100/", memory_mib=16160),
    Gpu("V100-32GB", 32, 125, bf16=False, mfu=_LOW, source=_DS + "v100/", memory_mib=32768),
    Gpu("A10G", 24, 125, mfu={"full": 0.22, "lora": 0.25, "qlora": 0.18},
        source="https://aws.amazon.com/ec2/instance-types/g5/ (125 nominal; measured lower)", memory_mib=23028),
    Gpu("A10", 24, 125, mfu=_MID, source=_DS + "products/a10-gpu/", memory_mib=23028),
    Gpu("L4", 24, 121, mfu=_MID, source=_DS + "l4/", memory_mib=23034),
    Gpu("L40S", 48, 362, mfu=_MID, source=_DS + "l40s/", memory_mib=46068),
    Gpu("A100-40GB", 40, 312, mfu=_BIG, source=_DS + "a100/", memory_mib=40960),
    Gpu("A100-80GB", 80, 312, mfu=_BIG, source=_DS + "a100/", memory_mib=81920),
    Gpu("H100", 80, 989, mfu=_BIG, source=_DS + "h100/ (SXM)", memory_mib=81559),
    Gpu("H100-PCIe", 80, 756, mfu=_BIG, source=_DS + "h100/ (PCIe)", memory_mib=81559),
    Gpu("H100-NVL", 94, 835, mfu=_BIG, source=_DS + "h100/ (NVL)", memory_mib=95830),
    Gpu("H200", 141, 989, mfu=_BIG, source=_DS + "h200/", memory_mib=143771),
    Gpu("RTX-3090", 24, 71, mfu=_DESK, source="NVIDIA Ampere GA102 whitepaper (dense bf16, fp32 accumulate)",
        memory_mib=24576),
    Gpu("RTX-4090", 24, 165, mfu=_DESK, source="NVIDIA Ada Lovelace whitepaper (dense bf16, fp32 accumulate)",
        memory_mib=24564),
    Gpu("RTX-A6000", 48, 155, mfu=_DESK, source="NVIDIA RTX A6000 data sheet", memory_mib=49140),
    Gpu("RTX-6000-Ada", 48, 364, mfu=_DESK, source="NVIDIA RTX 6000 Ada data sheet", memory_mib=49140),
]}

# Several GPUs in one machine (NVLink/PCIe, data parallel or sharded): throughput per GPU × this.
# Planning assumption, consistent with torchtune's 8× A100 rows (docs/estimation.md).
MULTI_GPU_EFFICIENCY = 0.9

# Several machines (compute.nodes > 1): throughput × this on top of MULTI_GPU_EFFICIENCY, by the network
# bandwidth between the machines (the instance catalog's network_gbps, per node). Planning assumptions
# (docs/estimation.md, "Across machines"): RDMA fabrics (EFA on p4d/p5, InfiniBand on Azure ND, GPUDirect
# on Vertex A3) keep the gradient all-reduce (DDP) or the per-layer gather and reduce-scatter (FSDP) mostly
# hidden behind compute; 100-400 Gb/s Ethernet does not.
NODE_EFFICIENCY: tuple[tuple[float, float], ...] = ((800, 0.9), (200, 0.8), (0, 0.6))  # (≥ Gb/s, efficiency)


def node_efficiency(network_gbps: float | None) -> tuple[float, str]:
    """Throughput factor across machines for a network of ``network_gbps`` per node, and how it was chosen."""
    if not network_gbps:
        return NODE_EFFICIENCY[-1][1], "network between the machines not in the catalog, taken as slow Ethernet"
    for floor, eff in NODE_EFFICIENCY:
        if network_gbps >= floor:
            return eff, f"{network_gbps:g} Gb/s between the machines"
    return NODE_EFFICIENCY[-1][1], f"{network_gbps:g} Gb/s between the machines"

# Training on the CPU: there is no meaningful "peak". 0.5 TFLOP/s × 0.02 = 0.01 TFLOP/s achieved is the
# order of magnitude measured with the quickstart's ~1M-parameter model on 2 cores (where per-step
# overhead dominates); uncalibrated CPU estimates are very rough — `anytune calibrate` measures yours.
CPU = Gpu("CPU", 0, 0.5, mfu={"full": 0.02, "lora": 0.02, "qlora": 0.02}, source="nominal; calibrate for a real figure")

# Spellings seen in instance catalogs, nvidia-smi and accelerator enums -> catalog name.
_ALIASES = [
    (r"h200", "H200"),
    (r"h100.*nvl", "H100-NVL"),
    (r"h100.*pcie", "H100-PCIe"),
    (r"h100", "H100"),
    (r"a100.*80", "A100-80GB"),
    (r"a100", "A100-40GB"),
    (r"l40s", "L40S"),
    (r"a10g", "A10G"),
    (r"(^|[^0-9a-z])a10($|[^0-9])", "A10"),
    (r"l4($|[^0-9])", "L4"),
    (r"v100.*32", "V100-32GB"),
    (r"v100", "V100"),
    (r"t4($|[^0-9])", "T4"),
    (r"4090", "RTX-4090"),
    (r"3090", "RTX-3090"),
    (r"6000.*ada", "RTX-6000-Ada"),
    (r"a6000", "RTX-A6000"),
]


def normalize_gpu(name: str | None) -> str | None:
    """Map a GPU spelling ("NVIDIA A100-SXM4-80GB", "NVIDIA_L4", "a10g") to a catalog name, or None."""
    if not name:
        return None
    if name in GPUS:
        return name
    low = name.lower().replace("_", " ")
    for pattern, target in _ALIASES:
        if re.search(pattern, low):
            return target
    return None


def get_gpu(name: str | None) -> Gpu | None:
    key = normalize_gpu(name)
    return GPUS.get(key) if key else None


def gpu_or_unknown(name: str) -> tuple[Gpu, bool]:
    """The catalog entry for ``name``, or a stand-in (T4-class speed, memory unknown) and False."""
    known = get_gpu(name)
    if known is not None:
        return known, True
    return Gpu(name.strip() or "unknown GPU", 0, 65, mfu=_LOW, source="not in anytune's hardware catalog"), False
