"""Provider-neutral GPU catalog: memory, peak dense FLOP/s and default MFU per training method.

Peak figures are NVIDIA's dense (no sparsity) bf16 tensor-core numbers; T4 and V100 have no bf16, so
their fp16 figure is used (training runs in fp16 there). The MFU (model FLOPs utilisation) values are
PLANNING ASSUMPTIONS, not measurements: typical Hugging Face Trainer fine-tuning reaches ~0.25-0.45 of
peak on A100/H100 and less on T4/A10G/L4; LoRA and QLoRA do less useful work per kernel launch
(and QLoRA dequantises weights on the fly), so they sit lower. `anytune calibrate` replaces them with a
measured figure for the local GPU. See docs/estimation.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GB = 1e9  # the catalog speaks decimal gigabytes, as the vendors' spec sheets do


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gb: float  # on-board memory, vendor figure
    peak_tflops: float  # dense bf16 (fp16 on T4/V100)
    bf16: bool = True
    mfu: dict[str, float] = field(default_factory=dict)  # method -> planning MFU
    source: str = ""

    def default_mfu(self, method: str) -> float:
        return self.mfu.get(method, self.mfu.get("full", 0.3))


_BIG = {"full": 0.35, "lora": 0.30, "qlora": 0.20}  # A100/H100-class, HF Trainer, planning assumption
_MID = {"full": 0.30, "lora": 0.25, "qlora": 0.18}  # L4/L40S/A10/consumer Ada/Ampere
_LOW = {"full": 0.25, "lora": 0.20, "qlora": 0.12}  # T4/V100 (fp16, no flash attention 2), A10G

_DS = "https://www.nvidia.com/en-us/data-center/"  # data-sheet family page

GPUS: dict[str, Gpu] = {g.name: g for g in [
    Gpu("T4", 16, 65, bf16=False, mfu=_LOW, source=_DS + "tesla-t4/"),
    Gpu("V100", 16, 125, bf16=False, mfu=_LOW, source=_DS + "v100/"),
    Gpu("V100-32GB", 32, 125, bf16=False, mfu=_LOW, source=_DS + "v100/"),
    Gpu("A10G", 24, 125, mfu={"full": 0.22, "lora": 0.18, "qlora": 0.12}, source="https://aws.amazon.com/ec2/instance-types/g5/ (125 nominal; measured lower)"),
    Gpu("A10", 24, 125, mfu=_MID, source=_DS + "products/a10-gpu/"),
    Gpu("L4", 24, 121, mfu=_MID, source=_DS + "l4/"),
    Gpu("L40S", 48, 362, mfu=_MID, source=_DS + "l40s/"),
    Gpu("A100-40GB", 40, 312, mfu=_BIG, source=_DS + "a100/"),
    Gpu("A100-80GB", 80, 312, mfu=_BIG, source=_DS + "a100/"),
    Gpu("H100", 80, 989, mfu=_BIG, source=_DS + "h100/ (SXM)"),
    Gpu("H100-PCIe", 80, 756, mfu=_BIG, source=_DS + "h100/ (PCIe)"),
    Gpu("H100-NVL", 94, 835, mfu=_BIG, source=_DS + "h100/ (NVL)"),
    Gpu("H200", 141, 989, mfu=_BIG, source=_DS + "h200/"),
    Gpu("RTX-3090", 24, 71, mfu=_MID, source="NVIDIA Ampere GA102 whitepaper (dense bf16, fp32 accumulate)"),
    Gpu("RTX-4090", 24, 165, mfu=_MID, source="NVIDIA Ada Lovelace whitepaper (dense bf16, fp32 accumulate)"),
    Gpu("RTX-A6000", 48, 155, mfu=_MID, source="NVIDIA RTX A6000 data sheet"),
    Gpu("RTX-6000-Ada", 48, 364, mfu=_MID, source="NVIDIA RTX 6000 Ada data sheet"),
]}

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
