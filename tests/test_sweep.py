"""Sweeps: the spec block, the budget refusal, trials as jobs, the best model, resume after a kill, optuna
pruning, fallback of a trial, status/report through the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from anytune.artifacts import verify_manifest
from anytune.errors import ConfigError
from anytune.spec import json_schema, load_spec
from anytune.store import JobStore
from anytune.sweep import runner
from anytune.sweep.space import planned


def cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anytune.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200", **(env or {})})


def write_job(path: Path, model, data: dict, sweep: dict, **extra) -> Path:
    job = {"name": "tiny-sweep", "base_model": str(model),
           "data": {"train": str(data["train"]), "validation": str(data["validation"]), "test": "none"},
           "method": "full", "hyperparameters": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3},
           "evaluation": {"enabled": False}, "provider": "local", "sweep": sweep, **extra}
    path.write_text(yaml.safe_dump(job, sort_keys=False))
    return path


def trainer_runs(home: Path) -> dict[str, int]:
    """Trainer processes started per local job: one per job folder plus one per earlier attempt."""
    jobs_dir = home / "jobs"
    return {d.name: 1 + len(list((d / "attempts").glob("*"))) for d in jobs_dir.iterdir()
            if (d / "handle.json").exists()} if jobs_dir.is_dir() else {}


# --- the spec block -----------------------------------------------------------------------------

def test_an_unknown_parameter_a_bad_value_and_a_range_in_a_grid_are_rejected_with_their_line(tmp_path):
    path = tmp_path / "job.yaml"
    base = "name: s\nbase_model: m\ndata: {train: t.jsonl}\nsweep:\n  parameters:\n"
    cases = {"    lora.rank: [8, 16]\n": (6, "unknown parameter 'lora.rank': hyperparameters.lora has no key 'rank'"),
             "    epochs: [2]\n    lora.r: [8, 0]\n": (7, "lora.r = 0: Input should be greater than or equal to 1"),
             "    learning_rate: {log_uniform: [1.0e-5, 3.0e-4]}\n": (4, "a grid needs a list of values"),
             "    name: [a, b]\n": (6, "name cannot be swept")}
    for body, (line, words) in cases.items():
        path.write_text(base + body)
        with pytest.raises(ConfigError) as exc:
            load_spec(path)
        assert f"job.yaml:{line}:" in str(exc.value) and words in str(exc.value), str(exc.value)
    assert "sweep" in json_schema()["properties"]


def test_grid_and_random_trials():
    from anytune.sweep.space import SweepSpec

    grid = SweepSpec(parameters={"learning_rate": [1e-4, 1e-3], "lora.r": [8, 16]})
    assert planned(grid) == [{"learning_rate": 1e-4, "lora.r": 8}, {"learning_rate": 1e-4, "lora.r": 16},
                             {"learning_rate": 1e-3, "lora.r": 8}, {"learning_rate": 1e-3, "lora.r": 16}]
    rand = SweepSpec(parameters={"learning_rate": {"log_uniform": [1e-5, 3e-4]}, "method": ["lora", "full"]},
                     strategy="random", trials=6, seed=3)
    draw = planned(rand)
    assert draw == planned(rand) and len(draw) == 6 and len({d["learning_rate"] for d in draw}) == 6
    assert all(1e-5 <= d["learning_rate"] <= 3e-4 and d["method"] in ("lora", "full") for d in draw)


# --- the budget ---------------------------------------------------------------------------------

def test_a_sweep_over_budget_is_refused_before_anything_is_written(tiny_model, tiny_data, tmp_path, anytune_home):
    job = write_job(tmp_path / "job.yaml", tiny_model, tiny_data, {"parameters": {"epochs": [1, 2, 3]}},
                    budget={"max_usd": 0.05}, provider_options={"local": {"price_per_hour": 1000}})
    r = cli("sweep", str(job))
    assert r.returncode == 2, r.stderr
    assert "the sweep's 3 trials are estimated at $" in r.stderr and "over budget.max_usd $0.05" in r.stderr
    assert "nothing was launched" in r.stderr
    store = JobStore()
    assert store.sweeps() == [] and store.list() == [] and trainer_runs(anytune_home) == {}
    dry = cli("sweep", str(job), "--dry-run")
    assert dry.returncode == 2 and "3 trials, estimated $" in dry.stdout and "epochs=3" in dry.stdout


# --- end to end on the local provider -------------------------------------------------------------

@pytest.mark.slow
def test_a_2x2_grid_runs_four_trials_and_keeps_the_best(tiny_model, tiny_data, tmp_path, anytune_home):
    from anytune.testing.browser import open_page

    job = write_job(tmp_path / "job.yaml", tiny_model, tiny_data,
                    {"parameters": {"learning_rate": [1e-4, 1e-2], "epochs": [1, 2]}},
                    output_dir=str(tmp_path / "runs" / "{name}" / "{job_id}"))
    r = cli("sweep", str(job), "--interval", "0.5")
    assert r.returncode == 0, r.stderr
    status = json.loads(cli("sweep", "status", "--json").stdout)
    scores = [t["score"] for t in status["trials"]]
    assert [t["state"] for t in status["trials"]] == ["succeeded"] * 4 and len(set(scores)) == 4
    best = min(status["trials"], key=lambda t: t["score"])
    assert best["best"] and status["best_job"] == best["job"] and best["params"]["learning_rate"] == 1e-2
    assert "★ 2" in r.stdout or "★ 3" in r.stdout
    assert {f.path for f in verify_manifest(Path(status["best_model"]))} >= {"model.safetensors", "metrics.json"}
    assert json.loads((Path(status["best_model"]) / "metrics.json").read_text())["eval_loss_after"] == best["score"]
    assert sorted(trainer_runs(anytune_home).values()) == [1, 1, 1, 1]
    listing = cli("sweeps")
    assert status["id"] in listing.stdout and "4/4" in listing.stdout
    rep = cli("sweep", "report", status["id"][:20], "-o", str(tmp_path / "sweep.html"))
    assert rep.returncode == 0, rep.stderr
    html = (tmp_path / "sweep.html").read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html
    page = open_page(tmp_path / "sweep.html", tmp_path / "sweep.png")
    assert page.console_errors == []
    drawn = {alt for alt, width in page.images if width > 0}
    assert drawn == {"loss curves of every trial", "score per trial", "each parameter against the score",
                     "cost per trial, estimate and actual"}
    assert page.text_contains("Lower eval_loss is better") and page.non_white_fraction > 0.03


@pytest.mark.slow
def test_a_random_sweep_runs_two_trials_at_once(tiny_model, tiny_data, tmp_path, anytune_home):
    job = write_job(tmp_path / "job.yaml", tiny_model, tiny_data,
                    {"parameters": {"learning_rate": {"log_uniform": [1e-4, 1e-2]}}, "strategy": "random",
                     "trials": 2, "parallel": 2, "seed": 1})
    rec, resumed = runner.start(load_spec(job))
    assert not resumed
    seen_running = []

    def on_event(msg: str) -> None:
        seen_running.append(sum(not t.terminal for t in JobStore().trials(rec.id)))

    done = runner.Driver(rec.id, interval=0.3, on_event=on_event).run()
    assert done.state == "succeeded" and max(seen_running) == 2  # the second launched while the first ran
    trials = JobStore().trials(rec.id)
    assert [t.trial["params"] for t in trials] == [row["params"] for row in rec.plan]
    assert all(t.state == "succeeded" for t in trials)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["sweep:recorded", "sweep:launched", "submit:recorded"])
def test_a_killed_sweep_resumes_and_runs_each_trial_once(point, tiny_model, tiny_data, tmp_path, anytune_home):
    job = write_job(tmp_path / "job.yaml", tiny_model, tiny_data, {"parameters": {"epochs": [1, 2, 3]}})
    killed = cli("sweep", str(job), "--interval", "0.3", env={"ANYTUNE_CRASH_AT": point})
    assert killed.returncode == -signal.SIGKILL
    store = JobStore()
    (sweep,) = store.sweeps()
    assert sweep.state == "running" and len(store.trials(sweep.id)) == (point != "sweep:recorded")
    assert "no process is running this sweep" in cli("sweep", "status").stdout
    again = cli("sweep", str(job), "--interval", "0.3")
    assert again.returncode == 0, again.stderr
    assert f"resuming sweep {sweep.id}" in again.stderr
    trials = store.trials(sweep.id)
    assert sorted(t.trial["index"] for t in trials) == [0, 1, 2] and all(t.state == "succeeded" for t in trials)
    assert sorted(trainer_runs(anytune_home).values()) == [1, 1, 1]  # three trainer runs, none twice
    assert store.get_sweep(sweep.id).state == "succeeded"


# --- in-process, against the fake provider ---------------------------------------------------------

def fake_spec(tmp_path, tiny_data, sweep: dict, **extra):
    from anytune.spec import JobSpec

    return JobSpec.model_validate({
        "name": "fake-sweep", "base_model": "tiny", "data": {"train": str(tiny_data["train"])},
        "provider": "fake", "evaluation": {"enabled": False}, "sweep": sweep,
        "output_dir": str(tmp_path / "runs" / "{name}" / "{job_id}"), **extra})


def test_optuna_prunes_a_trial_whose_intermediate_losses_are_worse(with_fake, tmp_path, tiny_data):
    pytest.importorskip("optuna")
    spec = fake_spec(tmp_path, tiny_data, {"parameters": {"learning_rate": [1e-3, 1e-1]}, "strategy": "optuna",
                                           "trials": 6, "seed": 0},
                     provider_options={"fake": {"steps": 6}})
    rec, _ = runner.start(spec)
    done = runner.Driver(rec.id, interval=0).run()
    trials = JobStore().trials(rec.id)
    pruned = [t for t in trials if t.trial.get("pruned")]
    assert len(trials) == 6 and pruned, [t.trial for t in trials]
    for t in pruned:  # the bad learning rate, stopped before its sixth step
        assert t.trial["params"]["learning_rate"] == 1e-1 and t.state == "cancelled"
        assert "worse than the median" in t.trial["pruned"]
    assert JobStore().get(done.best_job).trial["params"]["learning_rate"] == 1e-3


def test_a_trial_that_cannot_launch_on_a_cloud_falls_back(with_fake, tmp_path, tiny_data):
    from anytune import registry
    from anytune.testing import fake

    registry.reset(registry.load(extra_plugins=(fake, fake.more_providers("cloudy"))))
    spec = fake_spec(tmp_path, tiny_data, {"parameters": {"learning_rate": [1e-3, 1e-2]}},
                     provider=["cloudy", "fake"], provider_options={"cloudy": {"launch_error": "capacity"}})
    rec, _ = runner.start(spec)
    done = runner.Driver(rec.id, interval=0).run()
    trials = JobStore().trials(rec.id)
    assert done.state == "succeeded" and [t.provider for t in trials] == ["fake", "fake"]
    assert all(any(c["provider"] == "cloudy" and "capacity" in c["skipped"].lower() for c in t.choice)
               for t in trials), [t.choice for t in trials]


def test_a_running_sweep_past_its_budget_is_stopped(with_fake, tmp_path, tiny_data, monkeypatch):
    spec = fake_spec(tmp_path, tiny_data, {"parameters": {"learning_rate": [1e-3, 1e-2, 1e-1]}},
                     budget={"max_usd": 7}, provider_options={"fake": {"steps": 50}})
    rec, _ = runner.start(spec)  # 3 × $2 estimated: within $7
    monkeypatch.setattr(runner, "cost_so_far", lambda t: runner.Decimal(0 if t.terminal else 8))
    done = runner.Driver(rec.id, interval=0).run()
    trials = JobStore().trials(rec.id)
    assert done.state == "stopped" and "passed budget.max_usd $7" in done.message
    assert len(trials) == 1 and trials[0].state == "cancelled"  # no further trial launched


def test_a_sweep_spec_is_not_submitted_as_one_job(with_fake, tmp_path, tiny_data):
    from anytune import jobs

    with pytest.raises(ConfigError, match="run its trials with `anytune sweep`"):
        jobs.submit(fake_spec(tmp_path, tiny_data, {"parameters": {"epochs": [1, 2]}}))
    assert JobStore().list() == []
