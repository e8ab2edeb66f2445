"""After training: the trainer's generation evaluation, `anytune eval` (local, remote, judge), `chat`,
`export --merge` and `report`, through the real CLI in a subprocess (exit codes and messages as users see them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anytune.artifacts import verify_manifest
from anytune.spec import JobSpec
from anytune.testing.chat_stand_in import ChatStandIn, grading_judge
from anytune.testing.tiny_model import SUPPORT_ANSWERS, write_tiny_adapter
from anytune.trainer.cli import main as trainer_main

pytestmark = pytest.mark.slow


def cli(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anytune.cli", *args], capture_output=True, text=True,
                          input=stdin, timeout=300, env={**os.environ, "COLUMNS": "200", **(env or {})})


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tiny_model, tiny_data) -> Path:
    """The tiny model fine-tuned by the trainer until it answers (full: LoRA barely moves a random model),
    with its end-of-training evaluation."""
    root = tmp_path_factory.mktemp("trained")
    spec = JobSpec(name="tiny", base_model=str(tiny_model), data={"train": "unused.jsonl"}, method="full",
                   hyperparameters={"epochs": 16, "batch_size": 8, "learning_rate": 1e-2},
                   evaluation={"max_new_tokens": 40, "batch_size": 8})
    (root / "spec.json").write_text(spec.model_dump_json())
    code = trainer_main(["--spec", str(root / "spec.json"), "--train", str(tiny_data["train"]),
                         "--validation", str(tiny_data["validation"]), "--test", str(tiny_data["test"]),
                         "--output", str(root / "model"), "--checkpoints", str(root / "ckpt")])
    assert code == 0
    return root / "model"


@pytest.fixture(scope="session")
def adapter(tmp_path_factory, tiny_model) -> Path:
    return write_tiny_adapter(tiny_model, tmp_path_factory.mktemp("adapter") / "adapter")


def test_trainer_writes_eval_and_samples_into_the_checksummed_artifact(trained):
    listed = {f.path for f in verify_manifest(trained)}
    assert {"eval.json", "samples.jsonl", "model.safetensors"} <= listed
    result = json.loads((trained / "eval.json").read_text())
    assert result["split"] == "test" and result["examples"] == 16
    assert set(result["metrics"]) == {"exact_match", "token_f1", "rouge_l", "bleu"}
    rouge = result["metrics"]["rouge_l"]
    assert rouge["tuned"] > rouge["base"] + 0.3 and rouge["significant"] and rouge["ci95"][0] > 0
    samples = [json.loads(x) for x in (trained / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 16 and samples[0]["reference"] in SUPPORT_ANSWERS.values()
    assert {"base", "tuned", "scores", "messages"} <= set(samples[0])
    assert json.loads((trained / "metrics.json").read_text())["evaluation"]["metrics"] == result["metrics"]


def test_eval_cli_on_a_model_folder_with_data_in_another_format(trained, tiny_data, tmp_path):
    csv = tmp_path / "held_out.csv"
    rows = [json.loads(x)["messages"] for x in tiny_data["test"].read_text().splitlines()]
    csv.write_text("question,answer\n" + "".join(f'"{m[0]["content"]}","{m[1]["content"]}"\n' for m in rows))
    r = cli("eval", str(trained), "--data", str(csv), "-c", "prompt=question", "-c", "completion=answer",
            "--json", "--max-new-tokens", "40", "-o", str(tmp_path / "ev"))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["examples"] == 16 and result["metrics"]["token_f1"]["tuned"] > result["metrics"]["token_f1"]["base"]
    assert (tmp_path / "ev" / "eval.json").is_file() and (tmp_path / "ev" / "samples.jsonl").is_file()
    table = cli("eval", str(trained), "--data", str(tiny_data["test"]), "--max-examples", "4", "-m", "rouge_l")
    assert table.returncode == 0 and "rouge_l" in table.stdout and "95% CI" in table.stdout


def test_eval_of_an_adapter_against_its_base_sharing_the_weights(adapter, tiny_data):
    r = cli("eval", str(adapter), "--data", str(tiny_data["test"]), "--max-new-tokens", "8", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["models"]["base"].startswith("base (") and result["examples"] == 16


def test_eval_bad_input_is_one_message_and_exit_2(trained, adapter, tiny_data, tmp_path):
    (tmp_path / "empty").mkdir()
    r = cli("eval", str(tmp_path / "empty"), "--data", str(tiny_data["test"]))
    assert r.returncode == 2 and "holds no model" in r.stderr and "Traceback" not in r.stderr
    moved = tmp_path / "moved-adapter"
    moved.mkdir()
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    for f in adapter.iterdir():
        if f.is_file():
            (moved / f.name).write_bytes(f.read_bytes())
    (moved / "adapter_config.json").write_text(json.dumps({**cfg, "base_model_name_or_path": "/nowhere/base"}))
    r = cli("eval", str(moved), "--data", str(tiny_data["test"]))
    assert r.returncode == 2 and "/nowhere/base" in r.stderr and "--base" in r.stderr
    text = tmp_path / "text.jsonl"
    text.write_text(json.dumps({"text": "just some text"}) + "\n")
    r = cli("eval", str(trained), "--data", str(text))
    assert r.returncode == 2 and "no reference" in r.stderr and "Traceback" not in r.stderr
    r = cli("eval", "no-such-thing")
    assert r.returncode == 2 and "neither a model folder nor a job id" in r.stderr


def _answer_by_topic(messages):
    question = messages[-1]["content"]
    return next((a for topic, a in SUPPORT_ANSWERS.items() if topic in question), "I do not know.")


def test_eval_of_a_remote_model_against_its_base_and_a_judge_over_http(tiny_data, tmp_path):
    answers = {"ft:gpt-4.1-mini:acme::abc": _answer_by_topic, "gpt-4.1-mini": lambda m: "Please contact support.",
               "judge-1": grading_judge}
    with ChatStandIn(answers, key="sk-canary-123") as server:
        env = {"OPENAI_API_KEY": "sk-canary-123"}
        r = cli("eval", "ft:gpt-4.1-mini:acme::abc", "--base-url", server.url, "--against", "gpt-4.1-mini",
                "--data", str(tiny_data["test"]), "--judge", "judge-1", "--judge-base-url", server.url, "--json",
                env=env)
        assert r.returncode == 0, r.stderr
        result = json.loads(r.stdout)
        assert result["metrics"]["exact_match"]["tuned"] == 1.0 and result["metrics"]["exact_match"]["base"] == 0.0
        judge = result["metrics"]["judge"]
        assert judge["tuned"] == 1.0 and judge["base"] < 0.3 and judge["significant"]
        assert result["judge"]["replies_without_grade"] == 0
        assert len(server.requests) == 16 * 4  # 16 examples x (tuned, base, judge x 2)
        assert all(b["temperature"] == 0 for b in server.requests)

        bad = cli("eval", "ft:gpt-4.1-mini:acme::abc", "--base-url", server.url, "--against", "none",
                  "--data", str(tiny_data["test"]), "--judge", "judge-1", "--judge-base-url", server.url,
                  "--judge-api-key-env", "JUDGE_KEY", env={**env, "JUDGE_KEY": "sk-wrong-canary"})
        assert bad.returncode == 1 and "API key was rejected" in bad.stderr and "judge" in bad.stderr
        assert "sk-wrong-canary" not in bad.stderr + bad.stdout and "Traceback" not in bad.stderr
    down = cli("eval", "ft:x", "--base-url", server.url, "--against", "none", "--data", str(tiny_data["test"]),
               env=env)
    assert down.returncode == 1 and "cannot reach" in down.stderr and "Traceback" not in down.stderr


def test_openai_provider_generates_with_its_fine_tuned_model_through_its_own_client(tiny_data):
    pytest.importorskip("anytune_openai")
    from anytune_openai.provider import OpenAIProvider

    from anytune.evaluation import evaluate, load_examples
    from anytune.spec import EvaluationSpec

    with ChatStandIn({"ft:m": _answer_by_topic, "gpt-4.1-mini": lambda m: "No idea."}, key="sk-x") as server:
        os.environ["ANYTUNE_TEST_KEY"] = "sk-x"
        try:
            provider = OpenAIProvider({"base_url": server.url, "api_key_env": "ANYTUNE_TEST_KEY"})
            result = evaluate(load_examples(tiny_data["test"]), provider.chat_engine("ft:m"),
                              provider.chat_engine("gpt-4.1-mini"), EvaluationSpec(metrics=["exact_match"]))
        finally:
            del os.environ["ANYTUNE_TEST_KEY"]
    assert result["metrics"]["exact_match"] | {"ci95": None} == {
        "tuned": 1.0, "base": 0.0, "difference": 1.0, "ci95": None, "significant": True, "pairs": 16}


def test_chat_one_shot_and_interactive_commands(trained):
    r = cli("chat", str(trained), "-p", "Ticket 7: my printer does not work, what should I do?",
            "--max-new-tokens", "40")
    assert r.returncode == 0, r.stderr
    assert "printer" in r.stdout.lower() or "driver" in r.stdout.lower(), r.stdout
    session = "/system You are terse.\nTicket 1: my vpn does not work, what should I do?\n/reset\n/bogus\n" \
              "Ticket 2: my email does not work, what should I do?\n/exit\n"
    r = cli("chat", str(trained), "--max-new-tokens", "40", stdin=session)
    assert r.returncode == 0, r.stderr
    assert len([x for x in r.stdout.splitlines() if x.strip()]) == 2, r.stdout
    assert "conversation cleared" in r.stderr and "unknown command /bogus" in r.stderr


def test_export_merge_gives_a_plain_model_with_the_same_logits(adapter, tiny_model, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    r = cli("export", str(adapter), "--merge", "-o", str(tmp_path / "merged"))
    assert r.returncode == 0, r.stderr
    merged_dir = tmp_path / "merged"
    files = {f.path for f in verify_manifest(merged_dir)}
    assert {"model.safetensors", "config.json", "tokenizer.json", "export.json"} <= files
    assert not (merged_dir / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)  # plain transformers, no peft
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), str(adapter))
    ids = torch.randint(0, merged.config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = merged(input_ids=ids).logits, reference(input_ids=ids).logits
    assert (a - b).abs().max().item() < 1e-4  # fp32 merge: same logits within float rounding
    assert not torch.equal(b, AutoModelForCausalLM.from_pretrained(tiny_model)(input_ids=ids).logits)

    r = cli("export", str(adapter))
    assert r.returncode == 2 and "--merge" in r.stderr
    r = cli("export", str(adapter), "--merge", "--format", "gguf")
    assert r.returncode == 2 and "convert_hf_to_gguf.py" in r.stderr


def test_report_renders_in_a_real_browser(trained, tmp_path):
    from anytune.testing.browser import open_page

    r = cli("report", str(trained), "-o", str(tmp_path / "r.html"))
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "r.html").read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    page = open_page(tmp_path / "r.html", tmp_path / "shot.png")
    assert page.console_errors == []
    assert {"loss curves", "evaluation metrics, base vs tuned"} <= {alt for alt, w in page.images if w > 0}
    assert page.text_contains("Evaluation: base vs tuned") and page.text_contains("Sample answers")
    assert page.non_white_fraction > 0.03


def test_a_local_job_end_to_end_eval_and_report_by_job_id(tiny_model, tiny_data, tmp_path, monkeypatch):
    pytest.importorskip("anytune_local")
    import anytune
    from anytune.testing.browser import open_page
    from anytune.testing.fixtures import make_tiny_spec

    monkeypatch.chdir(tmp_path)
    spec = make_tiny_spec("local", tiny_model, tiny_data)
    job = anytune.submit(spec)
    job.wait()
    job.retrieve()
    r = cli("eval", job.id, "--json", "--max-examples", "6", "--max-new-tokens", "8")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["split"] == "test" and result["examples"] == 6 and result["models"]["base"].startswith("base (")
    r = cli("report", job.id[:12])
    assert r.returncode == 0, r.stderr
    report = next(tmp_path.rglob("*-report.html"))
    page = open_page(report, tmp_path / "job.png")
    assert page.console_errors == [] and all(w > 0 for _, w in page.images)
    for section in ("Training", "Evaluation: base vs tuned", "Sample answers", "Data", "Cost", "estimate", "actual"):
        assert page.text_contains(section), section


def test_ab_of_two_models_on_the_same_examples(trained, tiny_model, tiny_data):
    r = cli("ab", str(tiny_model), str(trained), "--data", str(tiny_data["test"]), "--max-new-tokens", "40", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["models"] == {"tuned": f"B: {trained.name}", "base": f"A: {tiny_model.name}"}
    rouge = result["metrics"]["rouge_l"]
    assert result["examples"] == 16 and rouge["significant"] and rouge["difference"] > 0.3 and rouge["ci95"][0] > 0
    table = cli("ab", str(trained), str(trained), "--data", str(tiny_data["test"]), "--max-examples", "4",
                "--max-new-tokens", "40", "-m", "token_f1", "--samples", "2")
    assert table.returncode == 0, table.stderr
    assert "B - A" in table.stdout and "sample answers" in table.stdout
    row = next(line for line in table.stdout.splitlines() if line.strip("│ ").startswith("token_f1"))
    assert "+0.000" in row and row.rstrip(" │").endswith("no")  # a model against itself: no difference
