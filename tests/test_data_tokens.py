"""Token counting without torch/transformers: HF tokenizer.json + chat template, OpenAI BPE offline, approximate."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from anytune.data import DataOptions, validate
from anytune.data.tokens import Counter, openai_encoding, resolve

RECORDS = [
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "My printer fails again"},
                  {"role": "assistant", "content": "Restart the printer and check the network."}]},
    {"messages": [{"role": "user", "content": "Reset my password please"},
                  {"role": "assistant", "content": "Open the account page.", "weight": 0},
                  {"role": "user", "content": "It fails"}, {"role": "assistant", "content": "Then call support."}]},
    {"prompt": "Why is the laptop slow?", "completion": "An update is running."},
    {"text": "The server works today."},
]


def many(n: int = 20) -> str:
    """n distinct chat records as JSONL."""
    return "".join(json.dumps({"messages": [{"role": "user", "content": f"Printer {i} fails"},
                                            {"role": "assistant", "content": f"Restart printer {i}."}]}) + "\n"
                   for i in range(n))


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory):
    from anytune.testing.tiny_model import tiny_corpus, train_tokenizer

    path = tmp_path_factory.mktemp("tok")
    train_tokenizer(tiny_corpus()).save_pretrained(path)
    return path


def test_hf_counts_match_transformers_and_the_trainer_rendering(hf_model):
    from transformers import PreTrainedTokenizerFast

    from anytune.data.template import render

    ref = resolve(str(hf_model))
    assert ref.kind == "hf" and not ref.approximate
    ours = Counter(ref).count(RECORDS)
    tok = PreTrainedTokenizerFast.from_pretrained(hf_model)
    expected = []
    for r in RECORDS:
        prompt, completion = render(r, tok)
        expected.append(len(tok(prompt + completion, add_special_tokens=False)["input_ids"]))
    assert ours == expected
    assert all(n > 5 for n in ours)


def test_chat_template_that_rejects_a_conversation_is_reported(hf_model, tmp_path):
    import shutil

    model = tmp_path / "strict"
    shutil.copytree(hf_model, model)
    (model / "chat_template.jinja").write_text(
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}")
    (model / "tokenizer_config.json").write_text(json.dumps(
        {k: v for k, v in json.loads((hf_model / "tokenizer_config.json").read_text()).items() if k != "chat_template"}))
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in RECORDS[:2] * 10))
    rep = validate(DataOptions(train=str(src), base_model=str(model)))
    assert not rep.ok
    errs = [d for d in rep.diagnostics.errors if d.code == "template"]
    assert errs and "System role not supported" in errs[0].message and errs[0].line == 1
    assert rep.diagnostics.totals_by_code("error")["template"] == 10


def test_tokenizer_identity_is_in_the_content_hash(hf_model, tmp_path):
    import shutil

    src = tmp_path / "d.jsonl"
    src.write_text(many())
    other = tmp_path / "other"
    shutil.copytree(hf_model, other)
    tj = json.loads((other / "tokenizer.json").read_text())
    tj["added_tokens"][0]["content"] = "<|changed|>"
    (other / "tokenizer.json").write_text(json.dumps(tj))
    a = validate(DataOptions(train=str(src), base_model=str(hf_model)))
    b = validate(DataOptions(train=str(src), base_model=str(other)))
    assert a.ok and b.ok and a.content_hash != b.content_hash
    assert a.tokenizer.startswith("tokenizer.json of") and a.splits["train"]["tokens"] > 0


def test_hub_id_is_found_in_the_local_cache_only(hf_model, tmp_path, monkeypatch):
    import shutil

    snap = tmp_path / "hub" / "models--acme--tiny" / "snapshots" / "abc123"
    shutil.copytree(hf_model, snap)
    (tmp_path / "hub" / "models--acme--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--tiny" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert resolve("acme/tiny").kind == "hf"
    missing = resolve("acme/not-downloaded")
    assert missing.approximate and "approximate" in missing.name


def test_openai_models_map_to_their_encodings():
    assert openai_encoding("gpt-4o-mini-2024-07-18") == "o200k_base"
    assert openai_encoding("gpt-4.1-nano") == "o200k_base"
    assert openai_encoding("ft:gpt-4o-mini-2024-07-18:org::abc") == "o200k_base"
    assert openai_encoding("gpt-3.5-turbo") == "cl100k_base"
    assert openai_encoding("Qwen/Qwen2.5-0.5B") is None


def test_openai_chat_count_follows_the_published_formula():
    counter = Counter(resolve("gpt-4o-mini"))
    rec = {"messages": [{"role": "user", "content": "hello world"}, {"role": "assistant", "content": "hi"}]}
    # o200k: "hello world" = 2 tokens, "hi" = 1, "user" = 1, "assistant" = 1; 3 per message + 3 priming
    assert counter.count([rec]) == [3 + (3 + 1 + 2) + (3 + 1 + 1)]
    assert Counter(resolve("gpt-4")).count([{"text": "hello world"}]) == [2]


def test_bpe_openai_works_with_the_network_blocked():
    code = textwrap.dedent("""
        import socket
        def refuse(*a, **k):
            raise OSError("network blocked by the test")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from anytune.data.tokens import Counter, resolve
        for model in ("gpt-4o-mini", "gpt-3.5-turbo"):
            print(Counter(resolve(model)).count([{"text": "hello world"}])[0])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "2"]


def test_without_a_tokenizer_counts_are_labelled_approximate(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_text(many())
    rep = validate(DataOptions(train=str(src), base_model="some-org/not-on-disk"))
    assert rep.approximate_tokens and "approximate" in rep.tokenizer
    assert rep.splits["train"]["tokens"] > 0


def test_too_long_policies(tmp_path):
    recs = [{"text": f"w{i} " + "word " * (4 if i % 4 else 59)} for i in range(40)]  # every 4th is long
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    base = dict(train=str(src), base_model="gpt-4o-mini", max_seq_length=20)
    trunc = validate(DataOptions(**base, too_long="truncate"))
    assert trunc.ok and trunc.too_long["count"] == 10 and trunc.splits["train"]["max_tokens"] == 20
    worst = trunc.too_long["worst"]
    assert len(worst) == 5 and worst[0]["tokens"] > 50 and {w["line"] for w in worst} <= {1, 5, 9, 13, 17, 21, 25, 29, 33, 37}
    drop = validate(DataOptions(**base, too_long="drop"))
    assert drop.ok and sum(s["examples"] for s in drop.splits.values()) == 30
    fail = validate(DataOptions(**base, too_long="fail"))
    assert not fail.ok and fail.diagnostics.totals_by_code("error")["too_long"] == 1
