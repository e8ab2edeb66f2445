"""The data pipeline is light: importing it loads no numpy/pyarrow/openpyxl/tokenizers, and running it (token
counts included) never imports torch, transformers or a cloud SDK — `anytune estimate/compare` rely on that."""

from __future__ import annotations

import json

from anytune.testing.imports import HEAVY, run_blocking

LAZY = ("numpy", "pyarrow", "openpyxl", "tokenizers", "bpe_openai", "jinja2", "charset_normalizer")


def test_importing_the_pipeline_and_its_commands_is_light():
    proc = run_blocking("""
        from anytune.data import prepare, validate, PreparedData, DataOptions
        import anytune.cli_data
        print("ok")
    """, blocked=HEAVY + LAZY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_preparing_with_real_token_counts_never_imports_torch_or_transformers(tmp_path):
    from anytune.testing.tiny_model import tiny_corpus, train_tokenizer

    train_tokenizer(tiny_corpus()).save_pretrained(tmp_path / "model")
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"printer {i} fails"},
                                                    {"role": "assistant", "content": f"restart {i}"}]}) + "\n"
                           for i in range(30)))
    proc = run_blocking(f"""
        from pathlib import Path
        from anytune.data import DataOptions, prepare
        for model in ({str(tmp_path / "model")!r}, "gpt-4o-mini"):
            p = prepare(DataOptions(train={str(src)!r}, base_model=model), Path({str(tmp_path)!r}) / model[-5:])
            print(p.stats.train.tokens > 0, p.stats.approximate)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False", "True", "False"]
