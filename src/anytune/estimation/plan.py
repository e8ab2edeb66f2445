"""Plans: from a spec and data statistics to a CostEstimate — the mechanics every provider's
``estimate()`` calls. Pure computation from catalogs; imports no SDK, torch or transformers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from ..errors import ConfigError
from ..types import CostEstimate, CostLine, DataStats, Money
from . import calibration
from .hardware import CPU, GPUS, MULTI_GPU_EFFICIENCY, Gpu, get_gpu, gpu_or_unknown, node_efficiency, normalize_gpu
from .model_size import ModelSize, model_size
from .pricing import Catalog, Offer, staleness_note
from .setup import Setup, trainer_setup
from .workload import (
    GB,
    LAYER_OVERHEAD_S,
    eval_flops_per_token,
    flops_per_token,
    in_fp32,
    max_batch,
    memory_per_gpu,
    padding_factor,
    recompute_factor,
    usable_bytes,
)


@dataclass(frozen=True)
class Fit:
    fits: bool
    checkpointing: bool  # True when it fits only with gradient checkpointing (or not at all)
    need_bytes: float
    reason: str = ""  # why not; or, when checkpointing, the plain need


@dataclass(frozen=True)
class Workload:
    """What one training run has to compute, independent of the hardware."""

    size: ModelSize
    method: str
    seq: int  # longest sequence a batch holds (memory)
    context: float  # tokens each token's attention runs over: the mean example (packed: the whole row)
    batch: int
    lora_r: int
    lora_target: str | list[str]
    train_tokens: int
    epochs: float
    flops: float  # training + evaluation FLOPs in total, padding included
    setup: Setup = Setup()
    padding: float = 1.0  # tokens computed per real token (1 when packed)
    micro_batches: float = 0.0  # training micro-batches, all GPUs together (+ evaluation ones at a third)

    def memory(self, *, checkpointing: bool):
        return memory_per_gpu(self.size, self.method, seq=self.seq, batch=self.batch, lora_r=self.lora_r,
                              lora_target=self.lora_target, checkpointing=checkpointing, setup=self.setup)

    def on_gpu(self, memory_bytes: float) -> Workload:
        """This run on a GPU of ``memory_bytes``: the trainer's setup decided for that GPU."""
        return replace(self, setup=self.setup.for_gpu(memory_bytes))

    def fit(self, memory_bytes: float) -> Fit:
        """Whether one GPU with ``memory_bytes`` holds this training run, and whether it needs gradient
        checkpointing to do so (tried only when the plain run does not fit)."""
        if self.setup.for_gpu(memory_bytes) != self.setup:
            return self.on_gpu(memory_bytes).fit(memory_bytes)
        room = usable_bytes(memory_bytes)
        plain = self.memory(checkpointing=False)
        if plain.total <= room:
            return Fit(True, False, plain.total)
        ckpt = self.memory(checkpointing=True)
        if ckpt.total <= room:
            return Fit(True, True, ckpt.total, f"{plain.total / GB:.1f} GB without gradient checkpointing")
        best = max_batch(self.size, self.method, seq=self.seq, memory_bytes=memory_bytes, lora_r=self.lora_r,
                         lora_target=self.lora_target, setup=self.setup)
        hint = f"; fits at batch ≤ {best}" if best >= 1 else "; does not fit even at batch 1"
        return Fit(False, True, ckpt.total,
                   f"needs {ckpt.total / GB:.1f} GB per GPU > {room / GB:.1f} GB usable "
                   f"({ckpt.describe()} at batch {self.batch} × seq {self.seq}, with gradient checkpointing){hint}")

    def describe(self) -> str:
        per_tok = flops_per_token(self.size, self.method, self.context)
        rule = "6·N" if self.method == "full" else "4·N"
        pad = f" × {self.padding:.3g} for padding" if self.padding > 1.0005 else ""
        return (f"{self.train_tokens:,} train tokens{pad} × {self.epochs:g} epochs × {per_tok / 1e9:.2f} GFLOP/token "
                f"({rule} + attention, N = {self.size.compute_params / 1e9:.3g}B) + evaluation = {self.flops:.3g} FLOPs")


def workload(spec, stats: DataStats) -> Workload:
    hp = spec.hyperparameters
    size = model_size(spec.base_model)
    train = stats.train
    seq = min(hp.max_seq_length, train.max_tokens) if train.max_tokens > 0 else hp.max_seq_length
    context = min(train.tokens / train.examples, hp.max_seq_length) if train.examples else 0.0
    setup = trainer_setup(spec, vocab=size.vocab)
    pad = 1.0 if setup.packing else _padding(train, hp.batch_size, hp.max_seq_length)
    # Packed, a row holds the whole batch and the attention kernel (SDPA, no varlen kernel) computes over all
    # of it, the mask keeping each example to itself: the attention context is the row, not the example.
    attended = context * hp.batch_size if setup.packing else context
    flops = train.tokens * pad * hp.epochs * flops_per_token(size, spec.method, attended)
    steps = math.ceil(train.examples / hp.batch_size) * hp.epochs
    val = stats.splits.get("validation")
    if val is not None and val.tokens:
        val_context = min(val.tokens / max(val.examples, 1), hp.max_seq_length)
        val_pad = 1.0 if setup.packing else _padding(val, hp.batch_size, hp.max_seq_length)
        passes = math.ceil(hp.epochs) + 1
        flops += val.tokens * val_pad * passes * eval_flops_per_token(size, val_context)
        steps += math.ceil(val.examples / hp.batch_size) * passes / 3
    return Workload(size, spec.method, max(seq, 1), attended, hp.batch_size, hp.lora.r, hp.lora.target_modules,
                    train.tokens, hp.epochs, flops, setup, pad, steps)


def _padding(split, batch: int, cap: int) -> float:
    if not split.examples or not split.max_tokens or not split.median_tokens:  # no length spread known
        return 1.0
    return padding_factor(mean=split.tokens / split.examples, minimum=split.min_tokens, median=split.median_tokens,
                          p95=split.p95_tokens, maximum=split.max_tokens, batch=batch, cap=cap)


def _basics(work: Workload, stats: DataStats) -> list[str]:
    out = [f"model size: {work.size.params / 1e9:.3g}B parameters, from {work.size.source}",
           f"compute: {work.describe()}",
           "time = FLOPs / (GPUs × peak dense bf16 FLOP/s × MFU × multi-GPU and multi-node efficiency) + "
           f"{LAYER_OVERHEAD_S * 1e3:g} ms per layer per micro-batch; MFU figures are measured with gradient "
           "checkpointing on (docs/estimation.md)",
           f"trainer: {work.setup.describe()}"
           + ("" if work.setup.packing else f"; padding from the data's length spread: × {work.padding:.3g} tokens"),
           f"memory: {_memory_layout(work.setup)}, bf16 weights, Adam"]
    if stats.approximate:
        out.append(f"token counts are approximate ({stats.tokenizer or 'no tokenizer'})")
    return out


def _memory_layout(setup: Setup) -> str:
    if setup.shards > 1:
        return f"{setup.sharded_by}: weights, gradients and optimizer states sharded over {setup.shards} GPUs"
    return "data parallel (every GPU holds the whole model)"


def training_hours(work: Workload, gpu: Gpu, gpus: int, *, nodes: int = 1, network_gbps: float | None = None,
                   tflops_per_gpu: float | None = None, checkpointing: bool = False) -> tuple[float, str]:
    """Hours to run ``work`` on ``gpus`` GPUs in all (``gpus / nodes`` per machine), and how it was reckoned:
    FLOPs / (peak × MFU × efficiencies) + the fixed per-layer cost of each micro-batch, or FLOPs at a
    measured rate (`anytune calibrate`, which includes that cost)."""
    if tflops_per_gpu is not None:
        rate = tflops_per_gpu * 1e12 * gpus
        how = f"{gpus}× {gpu.name} at a measured {tflops_per_gpu:.3g} TFLOP/s each"
    else:
        mfu = gpu.default_mfu(work.method)
        rate = gpu.peak_tflops * 1e12 * mfu * gpus
        how = f"{gpus}× {gpu.name} at {gpu.peak_tflops:g} TFLOP/s peak × MFU {mfu:g} (planning assumption)"
    if gpus > 1:
        rate *= MULTI_GPU_EFFICIENCY
        how += f", × {MULTI_GPU_EFFICIENCY:g} multi-GPU efficiency"
    if nodes > 1:
        eff, why = node_efficiency(network_gbps)
        rate *= eff
        how += f", × {eff:g} across {nodes} machines ({why})"
    if tflops_per_gpu is None and not checkpointing:  # the MFU figures include the recompute
        factor = recompute_factor(work.method)
        rate *= factor
        how += f", × {factor:.3g} without gradient checkpointing (no recompute)"
    seconds = work.flops / rate
    if tflops_per_gpu is None and gpu is not CPU and work.micro_batches:
        fixed = work.micro_batches * work.size.layers * LAYER_OVERHEAD_S / gpus
        seconds += fixed
        how += f", + {fixed / 60:.3g} min fixed cost of {work.micro_batches:,.0f} micro-batches"
    return seconds / 3600, how


def _hours_decimal(hours: float) -> Decimal:
    return Decimal(str(round(hours, 4)))


def _offer_notes(offer: Offer) -> list[str]:
    notes = []
    for part in offer.parts:
        p = part.price
        if p.derived or p.confidence == "L":
            why = f": {p.derived}" if p.derived else ""
            notes.append(f"price of {part.item} is {'derived' if p.derived else 'low-confidence'} "
                         f"(confidence {p.confidence}){why}")
        if part.regional is not None:
            notes.append(f"price of {part.item} in this region is an assumption: {part.regional.note}")
    return notes


@dataclass(frozen=True)
class _Option:
    """An instance that fits, priced for this run."""

    offer: Offer
    fit: Fit
    hours: float
    how: str
    on_demand: Decimal
    spot: Decimal | None
    work: Workload  # as placed on this instance (sharded or not)

    def key(self, spot: bool) -> tuple:
        first = self.spot if spot and self.spot is not None else self.on_demand
        return (first, self.on_demand, self.offer.instance.gpu_count)


def _placed(work: Workload, memory_bytes: float, gpus: int, strategy: str) -> tuple[Workload, Fit]:
    """``work`` on ``gpus`` GPUs of ``memory_bytes`` each, as the trainer's ``compute.strategy`` places it:
    ddp keeps the whole model on every GPU; fsdp and deepspeed_zero3 shard it over all of them (weights,
    gradients and optimizer states alike, so one memory model); auto shards only when the whole
    model does not fit one GPU (the trainer's own rule, trainer.loop._strategy)."""
    whole = work.fit(memory_bytes)
    if gpus < 2 or strategy == "ddp" or (strategy == "auto" and whole.fits):
        return work, whole
    if work.method == "qlora":
        if strategy in ("fsdp", "deepspeed_zero3"):
            return work, Fit(False, True, whole.need_bytes, f"compute.strategy: {strategy}: anytune's trainer "
                             "does not shard QLoRA's 4-bit weights; use ddp, or method: lora")
        return work, whole
    how = "DeepSpeed ZeRO-3" if strategy == "deepspeed_zero3" else "FSDP"
    sharded = replace(work, setup=replace(work.setup, shards=gpus, sharded_by=how))
    fit = sharded.fit(memory_bytes)
    if not fit.fits:
        fit = replace(fit, reason=f"even sharded over {gpus} GPUs ({how}): {fit.reason}")
    return sharded, fit


def _why_not(inst, offer: Offer | str, spec, want_gpu: str | None, exact_count: bool) -> str | None:
    """Why an instance is out before its memory is checked, or None."""
    compute = spec.compute
    if isinstance(offer, str):
        return offer
    if want_gpu and normalize_gpu(inst.gpu) != want_gpu:
        return f"not a {want_gpu} (compute.gpu)"
    if exact_count and inst.gpu_count != compute.gpu_count:
        return f"{inst.gpu_count} GPUs, compute.gpu_count asks for {compute.gpu_count}"
    if compute.min_gpu_memory_gb and inst.gpu_memory_gb < compute.min_gpu_memory_gb:
        return f"{inst.gpu_memory_gb:g} GB per GPU < compute.min_gpu_memory_gb {compute.min_gpu_memory_gb:g}"
    if get_gpu(inst.gpu) is None:
        return f"GPU {inst.gpu!r} is not in anytune's hardware catalog, so its speed is unknown"
    return None


def plan_gpu(spec, stats: DataStats, catalog: Catalog, *, provider: str | None = None,
             notes: Iterable[str] = ()) -> CostEstimate:
    """The cheapest instance in ``catalog`` whose GPUs fit the model, method, sequence length and batch,
    within ``compute.max_hours``; every other instance is listed in ``rejected`` with the reason."""
    name = provider or catalog.provider
    work = workload(spec, stats)
    compute = spec.compute
    want_gpu = normalize_gpu(compute.gpu) if compute.gpu else None
    if compute.gpu and want_gpu is None:
        raise ConfigError(f"compute.gpu: unknown GPU {compute.gpu!r}", [f"known: {', '.join(GPUS)}"])
    exact_count = "gpu_count" in compute.model_fields_set
    overhead_h = catalog.data.overhead_minutes / 60
    rejected: list[str] = []
    options: list[_Option] = []
    nodes = compute.nodes
    for inst in catalog.data.instances:
        offer = catalog.offer(inst)
        why = _why_not(inst, offer, spec, want_gpu, exact_count)
        if why is None:
            inst_work, fit = _placed(work, _gpu_bytes(inst), inst.gpu_count * nodes, compute.strategy)
            why = fit.reason if not fit.fits else None
        if why is None:
            hours, how = training_hours(inst_work, get_gpu(inst.gpu), inst.gpu_count * nodes, nodes=nodes,
                                        network_gbps=inst.network_gbps, checkpointing=fit.checkpointing)
            hours += overhead_h
            if hours > compute.max_hours:
                why = f"needs {hours:.1f} h > compute.max_hours {compute.max_hours:g}"
        if why is not None:
            where = f"{nodes} × {inst.name}" if nodes > 1 else inst.name
            rejected.append(f"{where} ({inst.gpu_count}× {inst.gpu} {inst.gpu_memory_gb:g} GB): {why}")
            continue
        q = _hours_decimal(hours) * nodes  # machine-hours
        spot = _spot_hourly(offer, catalog.data.spot)
        options.append(_Option(offer, fit, hours, how, offer.hourly * q, None if spot is None else spot * q,
                               inst_work))
    notes = list(notes)
    options.sort(key=lambda o: o.key(compute.spot))
    assumptions = _basics(options[0].work.on_gpu(_gpu_bytes(options[0].offer.instance)) if options else work, stats)
    if overhead_h:
        assumptions.append(f"{catalog.data.overhead_minutes:g} min of billed start-up per job (catalog assumption)")
    if not options:
        return CostEstimate(provider=name, fits=False, notes=tuple(notes), assumptions=tuple(assumptions),
                            rejected=tuple(rejected))
    best = options[0]
    rejected += [f"{o.offer.instance.name}: fits, but costs {Money(amount=o.on_demand)} on demand" for o in options[1:]]
    if best.fit.checkpointing:
        assumptions.append(f"fits only with gradient checkpointing ({best.fit.reason}); time includes its recompute")
    assumptions.append(f"throughput: {best.how}")
    if nodes > 1:
        assumptions.append(f"{nodes} machines of {best.offer.instance.gpu_count} GPUs, torchrun across them; "
                           f"cost = {nodes} × the instance price × hours")
    parts = best.offer.parts
    if best.spot is not None and catalog.data.spot is not None and any(p.spot is None for p in parts):
        assumptions.append(f"spot = {catalog.data.spot.fraction} × on-demand: {catalog.data.spot.assumption}")
    q = _hours_decimal(best.hours) * nodes
    currency = catalog.data.currency
    lines = tuple(CostLine(item=p.item, quantity=q * p.quantity, unit=p.unit,
                           unit_price=Money(amount=p.on_demand, currency=currency), source=p.price.source,
                           as_of=p.price.as_of) for p in parts)
    as_of = min(p.price.as_of for p in parts)
    notes += _offer_notes(best.offer)
    stale = staleness_note(name, as_of)
    if stale:
        notes.append(stale)
    inst = best.offer.instance
    return CostEstimate(
        provider=name, instance=inst.name, gpu=inst.gpu, gpu_count=inst.gpu_count, nodes=nodes, fits=True,
        hours=best.hours,
        lines=lines, spot_total=None if best.spot is None else Money(amount=best.spot, currency=currency),
        as_of=as_of, notes=tuple(notes), assumptions=tuple(assumptions), rejected=tuple(rejected))


def _spot_hourly(offer: Offer, policy) -> Decimal | None:
    total = Decimal(0)
    for part in offer.parts:
        if part.spot is not None:
            total += part.spot * part.quantity
        elif policy is not None:
            total += part.on_demand * policy.fraction * part.quantity
        else:
            return None
    return total


def plan_machine(spec, stats: DataStats, price_per_hour: Decimal, gpu: str | None, gpu_count: int, *,
                 provider: str, price_source: str = "", notes: Iterable[str] = (),
                 machine: str = "this machine", cpu_memory_bytes: float | None = None) -> CostEstimate:
    """A run on one given machine (a provider's own, e.g. this one): ``gpu`` as the driver names it (None =
    CPU, whose ``cpu_memory_bytes`` of available RAM, when known, must hold the run: the trainer does not
    checkpoint activations on a CPU), at ``price_per_hour``. Uses a calibrated throughput (`anytune
    calibrate`) for this GPU and method when there is one."""
    work = workload(spec, stats)
    hw, known = gpu_or_unknown(gpu) if gpu else (CPU, True)
    count = max(gpu_count, 1) if gpu else 1
    fit = Fit(True, False, 0.0)
    if gpu and known:  # placed on its GPUs as the trainer will (sharded when it must be and may be)
        work, fit = _placed(work.on_gpu(hw.memory_bytes), hw.memory_bytes, count, spec.compute.strategy)
    elif not gpu and cpu_memory_bytes:
        need = in_fp32(work.memory(checkpointing=False), work.method)
        if need.total > usable_bytes(cpu_memory_bytes):
            fit = Fit(False, False, need.total, f"needs {need.total / GB:.1f} GB of memory ({need.describe()}) > "
                      f"{usable_bytes(cpu_memory_bytes) / GB:.1f} GB available to train on this CPU")
    notes = list(notes)
    assumptions = _basics(work, stats)
    if not known:
        notes.append(f"GPU {gpu!r} is not in anytune's hardware catalog: memory fit not checked, speed assumed "
                     "T4-class until `anytune calibrate` measures it")
    cal = calibration.lookup(hw.name, work.method)
    if cal is not None:
        hours, how = training_hours(work, hw, count, tflops_per_gpu=cal.tflops_per_gpu, checkpointing=fit.checkpointing)
        assumptions.append(f"throughput: {how} (calibrated {cal.measured_at} with {cal.base_model}, {cal.method})")
    else:
        hours, how = training_hours(work, hw, count, checkpointing=fit.checkpointing)
        assumptions.append(f"throughput: {how}")
        notes.append("not calibrated: run `anytune calibrate` after a local run for a measured speed")
    fits, rejected = fit.fits, ()
    if not fit.fits:
        where = f"{count}× {hw.name} {hw.memory_gb:g} GB" if gpu else f"{machine}'s CPU"
        rejected = (f"{where}: {fit.reason}",)
    elif fit.checkpointing:
        assumptions.append(f"fits only with gradient checkpointing ({fit.reason}); time includes its recompute")
    q = _hours_decimal(hours)
    line = CostLine(item=f"{machine}'s {'CPU' if not gpu else f'{count}× {hw.name}'}", quantity=q, unit="hour",
                    unit_price=Money.of(price_per_hour), source=price_source)
    return CostEstimate(provider=provider, instance=machine + ("" if gpu else " (CPU)"),
                        gpu=hw.name if gpu else "", gpu_count=count if gpu else 0,
                        fits=fits, hours=hours, lines=(line,) if fits else (), notes=tuple(notes),
                        assumptions=tuple(assumptions), rejected=rejected)


def _gpu_bytes(inst) -> float:
    """The memory of one of ``inst``'s GPUs: nvidia-smi's figure for a catalogued GPU of that size, else the
    instance's nominal GB read as GiB (vendors' "24 GB" is 24 GiB)."""
    gpu = get_gpu(inst.gpu)
    if gpu is not None and gpu.memory_mib and abs(gpu.memory_gb - inst.gpu_memory_gb) < 1:
        return gpu.memory_bytes
    return inst.gpu_memory_gb * 2**30


def memory_plan(spec, memory_bytes: float, *, seq: int | None = None) -> Fit:
    """Does ``spec`` train on one GPU with ``memory_bytes``, and does it need gradient checkpointing?
    For the trainer to decide at run time (``seq`` defaults to max_seq_length)."""
    hp = spec.hyperparameters
    size = model_size(spec.base_model)
    length = seq or hp.max_seq_length
    work = Workload(size, spec.method, length, 0.0, hp.batch_size, hp.lora.r, hp.lora.target_modules, 0,
                    hp.epochs, 0.0, trainer_setup(spec, vocab=size.vocab))
    return work.fit(memory_bytes)
