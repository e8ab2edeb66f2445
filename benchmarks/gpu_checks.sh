#!/usr/bin/env bash
# The GPU checks as one command for a GPU machine with torch, transformers and peft (figures in
# docs/estimation.md, "Measured on a GPU"): anytune's trainer vs a plain Transformers script, bf16 LoRA and
# QLoRA on a 0.6B Llama-shaped model built from a config, packing off/on; tokens/s, MFU, peak memory.
# Wheels the machine lacks (pydantic, bitsandbytes) can be put in .whl/ (pip download --no-deps -d .whl ...).
# Environment: METHODS (lora,qlora), PACKING (both|on|off), EXAMPLES (4096), ROUNDS (1).
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src:$PWD/plugins/anytune-local/src:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, peft, bitsandbytes; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'bitsandbytes', bitsandbytes.__version__)" | tee -a "$OUT/gpu.txt"
python3 benchmarks/train_throughput.py --device cuda --methods "${METHODS:-lora,qlora}" --packing "${PACKING:-both}" --rounds "${ROUNDS:-1}" \
  --examples "${EXAMPLES:-4096}" --json "$OUT/train_throughput_gpu.json" 2>&1 | grep -v "Writing model shards" | tee "$OUT/train_throughput_gpu.log"
if python3 -c "import liger_kernel" 2>/dev/null; then  # hyperparameters.liger: the same LoRA run with Liger's kernels
  python3 benchmarks/train_throughput.py --device cuda --methods lora --liger --rounds "${ROUNDS:-1}" \
    --examples "${EXAMPLES:-4096}" --json "$OUT/train_throughput_gpu_liger.json" 2>&1 | grep -v "Writing model shards" | tee "$OUT/train_throughput_gpu_liger.log"
else
  echo "liger-kernel not installed: the Liger run is skipped (put its wheel in .whl/)" | tee "$OUT/liger_skipped.txt"
fi
