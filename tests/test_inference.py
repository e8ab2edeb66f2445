"""The transformers engine on a tiny model: batching and padding change nothing, streaming joins to the
same text, an adapter's base shares the weights with the adapter switched off."""

from __future__ import annotations

import pytest

from anytune.inference import GenerationParams, Prompt
from anytune.inference.hf import TransformersEngine, load
from anytune.testing.tiny_model import write_tiny_adapter

pytestmark = pytest.mark.slow

PROMPTS = [Prompt.chat([{"role": "user", "content": q}]) for q in (
    "hi", "my printer does not work, what should I do today?", "reset password", "the vpn fails again and again "
    "whenever I connect from home", "email")]


def _plain_greedy(engine, prompt, n):
    """What a user writes by hand: one prompt at a time, no padding."""
    import torch

    ids = torch.tensor([engine._encode(engine.prompt_text(prompt))])
    out = engine.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                do_sample=False, pad_token_id=engine.tokenizer.pad_token_id)
    return engine.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def test_batched_left_padded_generation_equals_one_prompt_at_a_time(tiny_model):
    engine = load(tiny_model)
    engine.batch_size = 3  # two batches of mixed lengths
    params = GenerationParams(max_new_tokens=12)
    got = engine.generate(PROMPTS, params)
    assert [g.text for g in got] == [_plain_greedy(engine, p, 12) for p in PROMPTS]
    assert all(g.completion_tokens == 12 and g.finish_reason == "length" for g in got)  # random model: no EOS
    assert "".join(engine.stream(PROMPTS[1], params)).strip() == got[1].text


def test_adapter_base_shares_weights_and_switches_the_adapter_off(tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM

    tuned = load(write_tiny_adapter(tiny_model, tmp_path / "adapter"))
    base = tuned.base()
    assert base.model is tuned.model
    params = GenerationParams(max_new_tokens=8)
    plain = TransformersEngine(AutoModelForCausalLM.from_pretrained(tiny_model), tuned.tokenizer)
    assert [g.text for g in base.generate(PROMPTS, params)] == [g.text for g in plain.generate(PROMPTS, params)]
    assert [g.text for g in tuned.generate(PROMPTS, params)] != [g.text for g in base.generate(PROMPTS, params)]
