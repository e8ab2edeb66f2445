"""The chunked loss and packing give the loss and gradients of the plain padded batch, on a tiny Llama
model; and the trainer picks them from the same decision the estimate plans with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anytune.spec import JobSpec
from anytune.testing.tiny_model import build_tiny_model, write_tiny_data


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _batch(tokenizer):
    from anytune.trainer.dataset import tokenize

    records = [{"prompt": "Reset my password please", "completion": " Open the account page and click reset."},
               {"prompt": "Printer fails", "completion": " Restart it."},
               {"prompt": "Why is the network slow today when I connect", "completion": " The server is busy."}]
    return tokenize(records, tokenizer, 64).examples


def _loss_and_grads(model, inputs, fn):
    model.zero_grad()
    loss = fn(model, inputs)
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_chunked_loss_and_packing_equal_the_padded_loss_and_gradients(tiny):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from anytune.trainer.dataset import Collator, Flattening
    from anytune.trainer.losses import chunked_loss

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
    examples = _batch(tokenizer)
    padded = Collator(tokenizer.pad_token_id or 0)(examples)
    packed = Flattening()(examples)
    assert packed["input_ids"].shape[0] == 1 and packed["input_ids"].shape[1] == sum(len(x["input_ids"]) for x in examples)
    assert padded["input_ids"].numel() > packed["input_ids"].numel()  # the padding packing does not compute

    plain, g_plain = _loss_and_grads(model, padded, lambda m, b: m(**b).loss)
    chunked, g_chunked = _loss_and_grads(model, padded, chunked_loss)
    flat, g_flat = _loss_and_grads(model, packed, lambda m, b: m(**b).loss)
    flat_chunked, _ = _loss_and_grads(model, packed, chunked_loss)
    assert chunked == pytest.approx(plain, rel=1e-5)
    assert flat == pytest.approx(plain, rel=1e-4)
    assert flat_chunked == pytest.approx(plain, rel=1e-4)
    for name, g in g_plain.items():
        torch.testing.assert_close(g_chunked[name], g, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(g_flat[name], g, rtol=1e-3, atol=1e-5)


def test_packing_without_position_ids_would_attend_across_examples(tiny):
    """The check above can fail: the same packed row without position ids gives another loss."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from anytune.trainer.dataset import Collator, Flattening

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
    examples = _batch(tokenizer)
    plain = model(**Collator(tokenizer.pad_token_id or 0)(examples)).loss.item()
    packed = Flattening()(examples)
    packed.pop("position_ids")
    assert model(**packed).loss.item() != pytest.approx(plain, rel=1e-4)


@pytest.mark.slow
def test_the_trainer_trains_with_the_setup_the_estimate_plans(tmp_path, tiny, capsys):
    """loss: chunked + packing: the trainer uses what trainer_setup() decides (it says so in its log) and
    lands on the eval loss of the plain padded run (same examples, same steps)."""
    from anytune.estimation.setup import trainer_setup
    from anytune.trainer.cli import main

    data = write_tiny_data(tmp_path / "data")
    results = {}
    for name, extra in (("plain", {"loss": "full"}), ("lean", {"loss": "chunked", "packing": True})):
        spec = JobSpec(name="tiny", base_model=str(tiny), data={"train": "unused.jsonl"}, method="full",
                       hyperparameters={"epochs": 1, "batch_size": 4, "learning_rate": 3e-3, "seed": 3, **extra})
        setup = trainer_setup(spec, vocab=512)
        assert (setup.loss, setup.packing) == (extra["loss"], extra.get("packing", False))
        path = tmp_path / f"{name}.json"
        path.write_text(spec.model_dump_json())
        out = tmp_path / name
        code = main(["--spec", str(path), "--train", str(data["train"]), "--validation", str(data["validation"]),
                     "--output", str(out / "model"), "--checkpoints", str(out / "ckpt"), "--logs", str(out / "tb")])
        assert code == 0
        assert f"trainer: {setup.describe()}" in capsys.readouterr().out
        results[name] = json.loads((out / "model" / "metrics.json").read_text())["eval_loss_after"]
    assert results["lean"] == pytest.approx(results["plain"], rel=2e-3), results
