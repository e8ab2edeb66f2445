"""matplotlib, imported on first use with the install hint, and figures as embeddable PNG."""

from __future__ import annotations

import base64
import io


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only, no display needed)."""
    from ..optional import require

    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_data_uri(fig, dpi: int = 110) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def loss_curves(metrics: dict, title: str = "loss"):
    """Train loss per logged step and held-out (eval) loss per evaluation; None without any points."""
    train = [(e["step"], e["loss"]) for e in metrics.get("train", []) if "loss" in e]
    evals = [(e["step"], e["eval_loss"]) for e in metrics.get("eval", []) if "eval_loss" in e]
    if not train and not evals:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", color="#1f77b4")
    if evals:
        ax.plot(*zip(*evals, strict=True), "o-", label="eval loss (held out)", color="#d62728")
    if metrics.get("eval_loss_before") is not None:
        ax.axhline(metrics["eval_loss_before"], ls=":", color="#999", label="eval loss before training")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def metric_bars(result: dict):
    """Base vs tuned per metric, the tuned bar with its 95% CI of the difference drawn from the base mean."""
    names = list(result["metrics"])
    rows = [result["metrics"][n] for n in names]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    x = range(len(names))
    if any(r.get("base") is not None for r in rows):
        ax.bar([i - 0.2 for i in x], [r.get("base") or 0 for r in rows], width=0.4, label="base", color="#aaa")
        err = [[(r["difference"] - r["ci95"][0]) if r.get("ci95") else 0 for r in rows],
               [(r["ci95"][1] - r["difference"]) if r.get("ci95") else 0 for r in rows]]
        ax.bar([i + 0.2 for i in x], [r.get("tuned") or 0 for r in rows], width=0.4, yerr=err, capsize=4,
               label="tuned (bars: 95% CI of the gain)", color="#2ca02c")
    else:
        ax.bar(list(x), [r.get("tuned") or 0 for r in rows], width=0.5, label="tuned", color="#2ca02c")
    ax.set_xticks(list(x), names)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean score (0-1)")
    ax.legend(loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
