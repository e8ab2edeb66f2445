"""Build a tiny Llama-shaped causal LM and its tokenizer into a folder, offline, in about a second.

    from anytune.testing.tiny_model import build_tiny_model
    path = build_tiny_model(tmp_path / "tiny")      # config.json, model.safetensors, tokenizer files

The tokenizer is a byte-level BPE trained on the fly with the ``tokenizers`` library and carries a
ChatML-style chat template, so chat, prompt/completion and text data all work. Nothing is downloaded.
The quickstart's base model (examples/quickstart/build_model.py) is built by the same function with a
larger shape and its own corpus, then pretrained.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_WORDS = ("the a an my your our this that printer password account email server network laptop phone screen "
          "file folder report invoice payment card bill user admin team office home browser app update "
          "reset restart open close send receive connect check click type save print sign login works fails "
          "slow fast new old again today please thanks help support question answer issue error problem "
          "is are was be can cannot will should not and or but if then when why how what where who").split()


def tiny_corpus(lines: int = 400, seed: int = 0) -> list[str]:
    """Deterministic filler sentences for training a toy tokenizer."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 14))).capitalize() + "."
            for _ in range(lines)]


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 512):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with the chat template and special tokens set."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None, bos_token=None)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(path: str | Path, *, vocab_size: int = 512, hidden_size: int = 32, layers: int = 2,
                     heads: int = 4, kv_heads: int = 2, intermediate_size: int = 64, max_positions: int = 512,
                     corpus: Iterable[str] | None = None, seed: int = 0) -> Path:
    """Write a randomly initialised Llama model + tokenizer (safetensors, HF layout) to ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(corpus if corpus is not None else tiny_corpus(seed=seed), vocab_size=vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


SUPPORT_ANSWERS = {
    "password": "Open Settings, choose Security, then click Reset password.",
    "printer": "Switch the printer off and on, then reinstall its driver.",
    "vpn": "Restart the VPN client and sign in with a new token.",
    "email": "Empty the outbox and check the mailbox quota.",
}


def write_tiny_data(folder: str | Path, *, train: int = 64, validation: int = 16, test: int = 16,
                    seed: int = 0) -> dict[str, Path]:
    """Canonical chat JSONL splits (train/validation/test) a tiny model learns in a few steps."""
    import json

    rng = random.Random(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, count in (("train", train), ("validation", validation), ("test", test)):
        if not count:
            continue
        files[split] = folder / f"{split}.jsonl"
        with open(files[split], "w", encoding="utf-8") as f:
            for _ in range(count):
                topic = rng.choice(sorted(SUPPORT_ANSWERS))
                ticket = rng.randrange(10_000)  # every question differs; the answer depends on the topic only
                f.write(json.dumps({"messages": [
                    {"role": "user", "content": f"Ticket {ticket}: my {topic} does not work, what should I do?"},
                    {"role": "assistant", "content": SUPPORT_ANSWERS[topic]}]}) + "\n")
    return files


def write_tiny_adapter(base: str | Path, path: str | Path, *, seed: int = 0) -> Path:
    """A LoRA adapter (q/v projections, r=4) over ``base`` whose B matrices are random, so it changes the
    model's outputs the way a trained adapter does; with its tokenizer, as the trainer saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    gen = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # B = 0 (peft's init) would change nothing
            p.data = torch.randn(p.shape, generator=gen) * 0.5
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(base).save_pretrained(path)
    return Path(path)
