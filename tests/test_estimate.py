"""The throughput and memory model and the GPU plans, including the worked examples of docs/estimation.md."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from anytune.errors import ConfigError
from anytune.estimation import Fit, load_catalog, memory_plan, plan_gpu, plan_machine
from anytune.estimation import pricing as pricing_mod
from anytune.estimation.hardware import GPUS, normalize_gpu
from anytune.estimation.model_size import from_config, model_size
from anytune.estimation.workload import GB, flops_per_token, memory_per_gpu, usable_bytes
from anytune.spec import parse_spec
from anytune.types import DataStats, SplitStats

ROOT = Path(__file__).resolve().parents[1]
SAGEMAKER = ROOT / "plugins/anytune-sagemaker/src/anytune_sagemaker/data/pricing.json"


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANYTUNE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-hf-cache"))
    monkeypatch.setattr(pricing_mod, "today", lambda: dt.date(2026, 11, 21))


def spec_for(model="meta-llama/Llama-2-7b-hf", method="lora", **hp):
    hp = {"batch_size": 1, "max_seq_length": 2048, **hp}
    return parse_spec({"name": "t", "base_model": model, "method": method, "data": {"train": "x.jsonl"},
                       "hyperparameters": hp})


def stats_for(examples=1000, tokens_each=1500, max_tokens=2048):
    return DataStats(splits={"train": SplitStats(examples=examples, tokens=examples * tokens_each,
                                                  max_tokens=max_tokens)})


# --- worked example 1 (docs/estimation.md): 7B on one 24 GB GPU at seq 2048, batch 1 -------------

def test_7b_lora_fits_24gb_full_does_not():
    size = model_size("meta-llama/Llama-2-7b-hf")
    assert 6.7e9 < size.params < 6.8e9  # 6,738,415,616 in the model card
    lora = memory_per_gpu(size, "lora", seq=2048, batch=1, checkpointing=True)
    lora_plain = memory_per_gpu(size, "lora", seq=2048, batch=1, checkpointing=False)
    full = memory_per_gpu(size, "full", seq=2048, batch=1, checkpointing=True)
    a10g = GPUS["A10G"].memory_bytes  # 23,028 MiB as nvidia-smi reports it, not 24·10⁹ bytes
    room = usable_bytes(a10g)
    assert lora.total < room < lora_plain.total < full.total  # LoRA fits with gradient checkpointing only
    # the hand figures of the docs: full = 16 B/param = 107.8 GB of states before activations
    assert (full.weights + full.gradients + full.optimizer) / GB == pytest.approx(16 * 6.738415616, rel=1e-6)
    assert lora.weights / GB == pytest.approx(2 * 6.738415616, abs=0.2)
    assert 15 < lora.total / GB < 18
    # 47.5·s·b·h bytes per layer without checkpointing: 47.5 · 2048 · 4096 · 32 layers = 12.7 GB
    assert lora_plain.activations / GB == pytest.approx(47.5 * 2048 * 4096 * 32 / 1e9)
    # vocabulary 32,000 at 2,048 tokens: 0.26 GB of fp32 logits, under the chunking threshold: the full loss
    assert lora.logits == 12 * 2048 * 32000
    plan = memory_plan(spec_for(), a10g)
    assert plan.fits and plan.checkpointing
    assert not memory_plan(spec_for(method="full"), a10g).fits
    assert memory_plan(spec_for(), GPUS["A100-80GB"].memory_bytes) == Fit(True, False, lora_plain.total)


def spec_with(compute: dict, method="full", model="meta-llama/Llama-2-7b-hf"):
    return parse_spec({"name": "t", "base_model": model, "method": method, "data": {"train": "x.jsonl"},
                       "hyperparameters": {"batch_size": 1, "max_seq_length": 2048}, "compute": compute})


def test_7b_plan_picks_a_24gb_gpu_for_lora_and_rejects_every_instance_for_full_data_parallel():
    catalog = load_catalog(SAGEMAKER, provider="sagemaker")
    lora = plan_gpu(spec_for(), stats_for(), catalog)
    assert lora.fits and lora.gpu_count == 1 and lora.gpu in ("A10G", "L4")
    assert lora.total.amount > 0 and lora.spot_total.amount < lora.total.amount
    assert sum(line.total.amount for line in lora.lines) == lora.total.amount
    assert any("fits only with gradient checkpointing" in a for a in lora.assumptions)
    full = plan_gpu(spec_with({"strategy": "ddp"}), stats_for(), catalog)
    assert not full.fits and full.lines == ()
    assert len(full.rejected) == len(catalog.data.instances)
    assert all("needs 110" in r and "does not fit even at batch 1" in r for r in full.rejected)


def test_a_full_7b_fine_tune_is_sharded_over_an_8_gpu_machine_when_it_fits_no_gpu_whole():
    catalog = load_catalog(SAGEMAKER, provider="sagemaker")
    auto = plan_gpu(spec_for(method="full"), stats_for(), catalog)  # compute.strategy: auto
    assert auto.fits and auto.gpu_count == 8 and auto.nodes == 1
    assert any("FSDP: weights, gradients and optimizer states sharded over 8 GPUs" in a for a in auto.assumptions)
    one_gpu = [r for r in auto.rejected if r.startswith("ml.g5.xlarge")][0]
    assert "needs 110" in one_gpu  # one GPU: nothing to shard over
    g5_8 = [r for r in auto.rejected if r.startswith("ml.g5.48xlarge")][0]
    assert "even sharded over 8 GPUs (FSDP)" in g5_8 or "fits, but costs" in g5_8
    qlora = plan_gpu(spec_with({"strategy": "fsdp"}, method="qlora"), stats_for(), catalog)
    assert any("does not shard QLoRA" in r for r in qlora.rejected)


def test_deepspeed_zero3_is_planned_like_fsdp_and_says_so():
    catalog = load_catalog(SAGEMAKER, provider="sagemaker")
    fsdp = plan_gpu(spec_with({"strategy": "fsdp"}), stats_for(), catalog)
    zero3 = plan_gpu(spec_with({"strategy": "deepspeed_zero3"}), stats_for(), catalog)
    assert zero3.fits and (zero3.instance, zero3.gpu_count, zero3.hours, zero3.total) == \
        (fsdp.instance, fsdp.gpu_count, fsdp.hours, fsdp.total)  # one memory model: states split over 8 GPUs
    assert any("DeepSpeed ZeRO-3: weights, gradients and optimizer states sharded over 8 GPUs" in a
               for a in zero3.assumptions)
    assert not any("FSDP" in a for a in zero3.assumptions)
    g5_8 = [r for r in zero3.rejected if r.startswith("ml.g5.48xlarge")][0]
    assert "even sharded over 8 GPUs (DeepSpeed ZeRO-3)" in g5_8 or "fits, but costs" in g5_8
    qlora = plan_gpu(spec_with({"strategy": "deepspeed_zero3"}, method="qlora"), stats_for(), catalog)
    assert any("deepspeed_zero3: anytune's trainer does not shard QLoRA" in r for r in qlora.rejected)


def test_two_machines_cost_twice_the_instance_and_count_their_network():
    catalog = load_catalog(SAGEMAKER, provider="sagemaker")
    one = plan_gpu(spec_with({"gpu": "H100", "gpu_count": 8}), stats_for(examples=20000), catalog)
    two = plan_gpu(spec_with({"gpu": "H100", "gpu_count": 8, "nodes": 2}), stats_for(examples=20000), catalog)
    assert one.instance == two.instance == "ml.p5.48xlarge" and (one.nodes, two.nodes) == (1, 2)
    # p5: 3,200 Gb/s EFA -> 0.9 across machines; hours fall by less than half, machine-hours rise
    assert "× 0.9 across 2 machines (3200 Gb/s between the machines)" in " ".join(two.assumptions)
    assert one.hours / 2 < two.hours < one.hours
    assert float(two.lines[0].quantity) == pytest.approx(2 * two.hours, abs=1e-3)
    assert two.total.amount > one.total.amount
    assert float(two.total.amount) == pytest.approx(float(one.total.amount) * 2 * two.hours / one.hours, rel=1e-3)
    # sharded over all 16 GPUs of the two machines: less memory per GPU than over 8
    mem = [a for a in two.assumptions if a.startswith("memory:")][0]
    assert "sharded over 16 GPUs" in mem


def test_qlora_needs_less_than_lora():
    size = model_size("meta-llama/Llama-3.1-8B")
    q = memory_per_gpu(size, "qlora", seq=2048, batch=1)
    lo = memory_per_gpu(size, "lora", seq=2048, batch=1)
    assert q.weights < 0.4 * lo.weights


def test_rejection_says_which_batch_would_fit():
    catalog = load_catalog(SAGEMAKER, provider="sagemaker")
    est = plan_gpu(spec_for(batch_size=32), stats_for(), catalog)
    small = [r for r in est.rejected if r.startswith("ml.g5.xlarge")][0]
    assert "at batch 32 × seq 2048" in small and "fits at batch ≤" in small
    assert est.fits and est.instance == "ml.p4d.24xlarge"  # sharded over 8 A100-40GB (compute.strategy: auto)
    ddp = plan_gpu(parse_spec({**spec_for(batch_size=32).model_dump(exclude_unset=True),
                               "compute": {"strategy": "ddp"}}), stats_for(), catalog)
    assert ddp.fits and ddp.instance == "ml.p5.48xlarge"  # whole on each GPU: only 80 GB GPUs hold batch 32


# --- FLOPs and time -----------------------------------------------------------------------------

def test_flops_per_token_rules():
    size = model_size("meta-llama/Llama-2-7b-hf")
    n = size.compute_params
    assert flops_per_token(size, "full", 0) == 6 * n
    assert flops_per_token(size, "lora", 0) == 4 * n
    # attention term of PaLM appendix B: 12·L·H·Q·T
    assert flops_per_token(size, "full", 1000) - 6 * n == 12 * 32 * 32 * 128 * 1000


def test_hours_follow_the_formula():
    catalog = load_catalog(SAGEMAKER, provider="sagemaker")
    spec = parse_spec({
        "name": "t", "base_model": "meta-llama/Llama-2-7b-hf", "data": {"train": "x.jsonl"},
        "hyperparameters": {"batch_size": 1, "max_seq_length": 2048, "epochs": 2},
        "compute": {"gpu": "A10G", "gpu_count": 1}})
    est = plan_gpu(spec, stats_for(examples=100, tokens_each=1000, max_tokens=1000), catalog)
    size = model_size("meta-llama/Llama-2-7b-hf")
    flops = 100_000 * 2 * flops_per_token(size, "lora", 1000)
    # A10G LoRA MFU 0.25 (measured-with-checkpointing figure); this run fits without it, so × 1.5 (no
    # recompute); batch 1 has no padding; 6 min start-up
    # + 3 ms per layer for each of the 2 × 100 micro-batches (32 layers)
    expected = (flops / (125e12 * 0.25 * 1.5) + 200 * 32 * 0.003) / 3600 + 6 / 60
    assert est.hours == pytest.approx(expected)
    assert est.instance == "ml.g5.xlarge"  # the cheaper of the two single-A10G instances


def test_spot_plan_sorts_by_spot_price_and_max_hours_rejects():
    catalog = load_catalog(SAGEMAKER, provider="sagemaker")
    spec = parse_spec({"name": "t", "base_model": "meta-llama/Llama-2-7b-hf", "data": {"train": "x"},
                       "hyperparameters": {"batch_size": 1, "max_seq_length": 2048},
                       "compute": {"max_hours": 0.5, "spot": True}})
    est = plan_gpu(spec, stats_for(examples=20_000), catalog)
    assert any("compute.max_hours 0.5" in r for r in est.rejected)


def test_unknown_gpu_request_is_a_config_error():
    catalog = load_catalog(SAGEMAKER, provider="sagemaker")
    spec = parse_spec({"name": "t", "base_model": "gpt2", "data": {"train": "x"}, "compute": {"gpu": "Z9000"}})
    with pytest.raises(ConfigError, match="unknown GPU 'Z9000'"):
        plan_gpu(spec, stats_for(), catalog)


# --- model size ---------------------------------------------------------------------------------

def test_model_size_from_local_config_and_safetensors_header(tmp_path):
    cfg = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
           "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 1000, "tie_word_embeddings": True}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    by_config = model_size(str(tmp_path))
    # embed 64k + per layer (q 4096 + k,v 2·2048 + o 4096 + mlp 3·8192 + norms 128) + final norm 64
    assert by_config.params == 64_000 + 2 * (4096 + 4096 + 4096 + 24576 + 128) + 64
    assert not by_config.exact
    header = json.dumps({"a": {"dtype": "BF16", "shape": [10, 20], "data_offsets": [0, 400]},
                         "b": {"dtype": "BF16", "shape": [7], "data_offsets": [400, 414]},
                         "__metadata__": {"format": "pt"}}).encode()
    (tmp_path / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 414)
    exact = model_size(str(tmp_path))
    assert exact.params == 207 and exact.exact and "safetensors" in exact.source


def test_model_size_from_name_is_labelled_a_guess_and_unknown_is_an_error():
    guess = model_size("someone/custom-13B-v2")
    assert guess.params == 13_000_000_000 and "guessed" in guess.source
    with pytest.raises(ConfigError, match="cannot tell the size"):
        model_size("someone/custom-model")


def test_gpt2_shape_matches_its_known_count():
    size = from_config({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257,
                        "n_positions": 1024})
    assert size.params == 124_337_664  # weights only: 12·(4h² + 8h² + 2h) + (V + 1024)·h + h
    assert abs(size.params - 124_439_808) / 124_439_808 < 0.001  # HF's count with biases: 124,439,808


def test_gpu_names_normalise():
    assert normalize_gpu("NVIDIA A100-SXM4-80GB") == "A100-80GB"
    assert normalize_gpu("NVIDIA_L4") == "L4"
    assert normalize_gpu("NVIDIA GeForce RTX 4090") == "RTX-4090"
    assert normalize_gpu("NVIDIA A10G") == "A10G"
    assert normalize_gpu("NVIDIA A10") == "A10"
    assert normalize_gpu("Tesla T4") == "T4"
    assert normalize_gpu("NVIDIA H100 NVL") == "H100-NVL"
    assert normalize_gpu("mystery") is None


# --- local ----------------------------------------------------------------------------------------

def test_local_plan_prices_time_and_reports_the_fit():
    est = plan_machine(spec_for(), stats_for(), Decimal("0.5"), "NVIDIA GeForce RTX 4090", 1, provider="local")
    assert est.fits and est.provider == "local"
    assert est.total.amount == Decimal("0.5") * est.lines[0].quantity
    assert any("not calibrated" in n for n in est.notes)
    full = plan_machine(spec_for(method="full"), stats_for(), Decimal(0), "NVIDIA GeForce RTX 4090", 1, provider="local")
    assert not full.fits and "needs 110" in full.rejected[0]


def test_loss_auto_chunks_by_the_gpus_memory_in_the_trainer_and_the_plan_alike():
    """2.1 GB of fp32 logits (batch 16 × 1024 × 32000): chunked on a 16 GB card, full on an H200 (measured
    0.86× the tokens/s there when chunked), chunked where no GPU is known; the plan says which per GPU."""
    from anytune.estimation.setup import trainer_setup

    spec = spec_for("meta-llama/Llama-2-7b-hf", batch_size=16, max_seq_length=1024)
    assert trainer_setup(spec, vocab=32000).loss == "chunked"
    assert trainer_setup(spec, vocab=32000, gpu_bytes=16 * 2**30).loss == "chunked"
    assert trainer_setup(spec, vocab=32000, gpu_bytes=143771 * 2**20).loss == "full"
    assert trainer_setup(spec, vocab=32000).for_gpu(143771 * 2**20) == trainer_setup(
        spec, vocab=32000, gpu_bytes=143771 * 2**20)
    fixed = spec_for("meta-llama/Llama-2-7b-hf", batch_size=16, max_seq_length=1024, loss="chunked")
    assert trainer_setup(fixed, vocab=32000, gpu_bytes=143771 * 2**20).loss == "chunked"  # asked for
    h200 = plan_machine(spec, stats_for(examples=100, tokens_each=500, max_tokens=1000), Decimal(0), "NVIDIA H200", 1,
                        provider="local")
    assert any("trainer: anytune's trainer: loss full" in a for a in h200.assumptions), h200.assumptions
    t4 = plan_machine(spec, stats_for(examples=100, tokens_each=500, max_tokens=1000), Decimal(0), "Tesla T4", 1,
                      provider="local")
    assert any("loss chunked" in a for a in t4.assumptions), t4.assumptions


def test_packed_attention_runs_over_the_whole_row():
    """Packed, SDPA attends over the batch's row (the mask keeps examples apart, the kernel computes it all):
    the plan counts attention at batch × mean length, and no padding."""
    from anytune.estimation.plan import workload

    stats = stats_for(examples=100, tokens_each=500, max_tokens=1000)
    padded = workload(spec_for(batch_size=8, max_seq_length=1024), stats)
    packed = workload(spec_for(batch_size=8, max_seq_length=1024, packing=True), stats)
    assert padded.context == 500 and packed.context == 8 * 500 and packed.padding == 1.0
    size = model_size("meta-llama/Llama-2-7b-hf")
    assert packed.flops == pytest.approx(100 * 500 * 3 * flops_per_token(size, "lora", 4000))


def test_a_given_machine_with_several_gpus_is_placed_like_a_catalog_instance():
    """plan_machine (local GPUs, a Ray cluster) shards as the trainer will, like plan_gpu."""
    from decimal import Decimal

    auto = plan_machine(spec_for(method="full"), stats_for(), Decimal(0), "A100-40GB", 8, provider="x")
    assert auto.fits and any("sharded over 8 GPUs" in a for a in auto.assumptions)
    ddp = plan_machine(spec_with({"strategy": "ddp"}), stats_for(), Decimal(0), "A100-40GB", 8, provider="x")
    assert not ddp.fits and "needs 110" in ddp.rejected[0]


def test_a_cpu_run_must_fit_the_memory_the_machine_has():
    from decimal import Decimal

    big = plan_machine(spec_for(method="full"), stats_for(), Decimal(0), None, 0, provider="x",
                       cpu_memory_bytes=24e9)
    assert not big.fits and big.rejected[0].startswith("this machine's CPU: needs 1")
    assert "> 22.8 GB available to train on this CPU" in big.rejected[0]
    # LoRA at batch 1 × 2048, all fp32 on a CPU, no checkpointing: 27 GB of weights + 25.5 GB of activations
    lora = plan_machine(spec_for(), stats_for(), Decimal(0), None, 0, provider="x", cpu_memory_bytes=24e9)
    assert not lora.fits and "weights 27.0 + activations 25.5" in lora.rejected[0]
    assert plan_machine(spec_for(), stats_for(), Decimal(0), None, 0, provider="x", cpu_memory_bytes=64e9).fits
    assert plan_machine(spec_for(method="full"), stats_for(), Decimal(0), None, 0, provider="x").fits  # unknown
