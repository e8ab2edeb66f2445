"""`anytune sweep report`: the verdict page, with the same renderer and charts as `anytune report`: the trial
table (best first), overlaid loss curves, score per trial, each parameter against the score, cost per trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import atomic
from ..report import charts
from ..report.html import image, page, para, table


def _curves(trials: list[dict[str, Any]]):
    plt = charts.pyplot()
    fig, (train_ax, eval_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    drawn = False
    for r in trials:
        m = r["metrics"]
        train = [(e["step"], e["loss"]) for e in m.get("train", []) if "loss" in e]
        evals = [(e["step"], e["eval_loss"]) for e in m.get("eval", []) if "eval_loss" in e]
        name = f"{r['trial']}: {r['label']}"
        width = 2.5 if r["best"] else 1.2
        if train:
            train_ax.plot(*zip(*train, strict=True), label=name, lw=width)
            drawn = True
        if evals:
            eval_ax.plot(*zip(*evals, strict=True), "o-", label=name, lw=width)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    for ax, title in ((train_ax, "train loss"), (eval_ax, "eval loss (held out)")):
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    eval_ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _scores(trials: list[dict[str, Any]], metric: str):
    scored = [r for r in trials if r["score"] is not None]
    if not scored:
        return None
    plt = charts.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    ax.bar([str(r["trial"]) for r in scored], [r["score"] for r in scored],
           color=["#2ca02c" if r["best"] else "#1f77b4" for r in scored])
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _parameters(trials: list[dict[str, Any]], metric: str):
    scored = [r for r in trials if r["score"] is not None]
    names = list(scored[0]["params"]) if scored else []
    if not names:
        return None
    plt = charts.pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.0), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        values = [r["params"][name] for r in scored]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        xs = values if numeric else [str(v) for v in values]
        ax.scatter(xs, [r["score"] for r in scored], c=["#2ca02c" if r["best"] else "#1f77b4" for r in scored])
        if numeric and min(values) > 0 and max(values) / min(values) >= 20:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _costs(trials: list[dict[str, Any]]):
    plt = charts.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    x = range(len(trials))
    ax.bar([i - 0.2 for i in x], [r["planned_usd"] or 0 for r in trials], width=0.4, label="estimate", color="#aaa")
    ax.bar([i + 0.2 for i in x], [r["cost_usd"] or 0 for r in trials], width=0.4, label="actual", color="#ff7f0e")
    ax.set_xticks(list(x), [str(r["trial"]) for r in trials])
    ax.set_xlabel("trial")
    ax.set_ylabel("USD")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def build(rec, trials: list[dict[str, Any]]) -> str:
    sweep = rec.spec.sweep
    better = "lower" if sweep.minimize else "higher"
    ranked = sorted(trials, key=lambda r: (r["score"] is None, (r["score"] or 0) * (1 if sweep.minimize else -1)))
    rows = [("★" if r["best"] else "", r["trial"], r["label"], r["job"], r["provider"], r["state"],
             "" if r["score"] is None else f"{r['score']:.4f}",
             "" if r["cost_usd"] is None else f"${r['cost_usd']:.4f}",
             "" if r["seconds"] is None else f"{r['seconds']:.0f}") for r in ranked]
    spent = sum(r["cost_usd"] or 0 for r in trials)
    planned = sum(r["planned_usd"] or 0 for r in trials)
    sections = [("Trials", para(f"{better.capitalize()} {sweep.metric} is better. {rec.message}", "note")
                 + table(("best", "trial", "parameters", "job", "provider", "state", sweep.metric, "cost",
                          "seconds"), rows, numeric=(1, 6, 7, 8)))]
    for heading, fig, alt in (("Loss curves", _curves(trials), "loss curves of every trial"),
                              (f"{sweep.metric} per trial", _scores(trials, sweep.metric), "score per trial"),
                              (f"Parameters against {sweep.metric}", _parameters(trials, sweep.metric),
                               "each parameter against the score")):
        if fig is not None:
            sections.append((heading, image(charts.png_data_uri(fig), alt)))
    budget = rec.spec.budget.max_usd
    sections.append(("Cost", para(f"Spent ${spent:.4f} of ${planned:.4f} estimated"
                                  + (f"; budget ${budget:g}." if budget is not None else "."), "note")
                     + image(charts.png_data_uri(_costs(trials)), "cost per trial, estimate and actual")))
    sub = (f"{sweep.strategy} sweep of {rec.spec.base_model} ({rec.spec.method}), {len(trials)} trials, "
           f"{rec.state}, created {rec.created_at}")
    return page(f"{rec.name} — {rec.id}", sub, sections)


def write(rec, trials: list[dict[str, Any]], path: Path) -> Path:
    return atomic.write_text(path, build(rec, trials))


def default_path(rec) -> Path:
    folder = rec.spec.output_path(rec.id)
    return folder.parent / f"{folder.name}-report.html"
