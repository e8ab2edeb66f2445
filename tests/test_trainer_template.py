"""Rendering canonical records into (prompt, completion) and masking the loss to the completion."""

from __future__ import annotations

import pytest

from anytune.data.template import render
from anytune.errors import DataError
from anytune.trainer.dataset import IGNORE, Collator, tokenize


class PlainTokenizer:
    """No chat template: the documented fallback applies."""

    chat_template = None
    eos_token = "</s>"


@pytest.fixture(scope="module")
def chat_tokenizer(tmp_path_factory):
    from anytune.testing.tiny_model import tiny_corpus, train_tokenizer

    return train_tokenizer(tiny_corpus(200))


def test_chat_uses_the_template_and_splits_before_the_last_answer(chat_tokenizer):
    record = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": "Hello!"}]}
    prompt, completion = render(record, chat_tokenizer)
    assert prompt.endswith("<|im_start|>assistant\n") and "Be brief." in prompt
    assert completion == "Hello!<|im_end|>\n"
    full = chat_tokenizer.apply_chat_template(record["messages"], tokenize=False)
    assert prompt + completion == full


def test_weight_zero_answers_are_context_not_targets(chat_tokenizer):
    record = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "first"},
                           {"role": "user", "content": "b"}, {"role": "assistant", "content": "second", "weight": 0}]}
    prompt, completion = render(record, chat_tokenizer)
    assert completion.startswith("first") and "second" not in prompt + completion


def test_fallbacks_without_a_chat_template():
    tok = PlainTokenizer()
    chat = {"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]}
    assert render(chat, tok) == ("user: Q?\nassistant: ", "A.</s>")
    assert render({"prompt": "2+2=", "completion": "4"}, tok) == ("2+2=", "4</s>")
    assert render({"text": "free text"}, tok) == ("", "free text</s>")


def test_prompt_completion_uses_the_chat_template_when_there_is_one(chat_tokenizer):
    prompt, completion = render({"prompt": "Q?", "completion": "A."}, chat_tokenizer)
    assert prompt == "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n" and completion == "A.<|im_end|>\n"


@pytest.mark.parametrize("record, message", [
    ({"prompt": "p", "chosen": "a", "rejected": "b"}, "preference"),
    ({"messages": [{"role": "user", "content": "only a question"}]}, "no assistant message"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "unknown chat role"),
    ({"question": "x"}, "canonical keys"),
])
def test_unusable_records_are_data_errors(record, message):
    with pytest.raises(DataError, match=message):
        render(record, PlainTokenizer())


def test_loss_only_on_completion_tokens_and_truncation(chat_tokenizer):
    records = [{"prompt": "How do I reset my password?", "completion": "Open settings."},
               {"prompt": "word " * 200, "completion": "lost"}]
    data = tokenize(records, chat_tokenizer, max_len=64)
    assert len(data) == 1 and data.dropped == 1  # the second prompt fills max_len: nothing left to learn
    ex = data[0]
    prompt_len = len(chat_tokenizer(render(records[0], chat_tokenizer)[0], add_special_tokens=False).input_ids)
    assert ex["labels"][:prompt_len] == [IGNORE] * prompt_len
    assert ex["labels"][prompt_len:] == ex["input_ids"][prompt_len:] and len(ex["labels"]) > prompt_len
    assert chat_tokenizer.decode(ex["input_ids"][prompt_len:]) == "Open settings.<|im_end|>\n"
    with pytest.raises(DataError, match="max_seq_length"):
        tokenize(records[1:], chat_tokenizer, max_len=64)


def test_collator_pads_and_masks():
    batch = Collator(pad_id=0, multiple_of=8)([{"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7]},
                                               {"input_ids": [5], "labels": [5]}])
    assert batch["input_ids"].shape == (2, 8)
    assert batch["attention_mask"][1].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert batch["labels"][1].tolist() == [5] + [IGNORE] * 7
