"""``anytune report``: one page for a job (or a model folder): loss curves, the generation evaluation base vs
tuned with confidence intervals, sample answers side by side, the data report and the cost, planned vs actual."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import atomic
from . import charts
from .html import image, page, para, table

SAMPLE_ROWS = 12


def _num(v: object) -> object:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v


def _training(metrics: dict[str, Any]) -> str:
    parts = []
    fig = charts.loss_curves(metrics, "loss per step (log scale)")
    if fig is not None:
        parts.append(image(charts.png_data_uri(fig), "loss curves"))
    rows = [(k, metrics[k]) for k in ("eval_loss_before", "eval_loss_after", "test_loss", "train_loss", "steps",
                                       "epochs", "train_runtime_s", "tokens_per_second", "device")
            if metrics.get(k) is not None]
    parts.append(table(("quantity", "value"), [(k, _num(v)) for k, v in rows], numeric=(1,)))
    return "".join(parts)


def _evaluation(result: dict[str, Any]) -> str:
    has_base = "base" in result.get("models", {})
    rows = []
    for name, r in result["metrics"].items():
        row: list[object] = [name]
        if has_base:
            row.append("—" if r.get("base") is None else f"{r['base']:.3f}")
        row.append("—" if r.get("tuned") is None else f"{r['tuned']:.3f}")
        if has_base and r.get("difference") is not None:
            lo, hi = r["ci95"]
            good = r["significant"] and r["difference"] > 0
            verdict = ('<span class="good">better</span>' if good else
                       '<span class="bad">worse</span>' if r["significant"] else "not significant")
            row += [f"{r['difference']:+.3f}", f"{lo:+.3f} .. {hi:+.3f}", verdict]
        elif has_base:
            row += ["—", "—", ""]
        rows.append(row)
    header = ("metric", "base", "tuned", "difference", "95% CI", "verdict") if has_base else ("metric", "tuned")
    models = result.get("models", {})
    intro = para(f"{result['examples']} examples of the {result.get('split') or 'held-out'} split; "
                 + ", ".join(f"{role}: {label}" for role, label in models.items()) + f". {result.get('ci', '')}.",
                 "note")
    return (intro + table(header, rows, numeric=tuple(range(1, len(header) - 1)), raw=(5,) if has_base else ())
            + image(charts.png_data_uri(charts.metric_bars(result)), "evaluation metrics, base vs tuned"))


def _samples(samples: list[dict[str, Any]]) -> str:
    has_base = any("base" in s for s in samples)
    rows = []
    for s in samples[:SAMPLE_ROWS]:
        question = next((m["content"] for m in reversed(s.get("messages", [])) if m.get("role") == "user"), "")
        tuned_score = s.get("scores", {}).get("tuned", {}).get("rouge_l")
        row = [question, s.get("reference", "")]
        if has_base:
            row.append(s.get("base", ""))
        row += [s.get("tuned", ""), "" if tuned_score is None else f"{tuned_score:.2f}"]
        rows.append(row)
    header = ("prompt", "reference", *(("base",) if has_base else ()), "tuned", "tuned rouge_l")
    return (para(f"The first {len(rows)} of {len(samples)} examples (all in samples.jsonl).", "note")
            + table(header, rows, numeric=(len(header) - 1,), css="samples"))


def _data(manifest: dict[str, Any]) -> str:
    splits = manifest.get("stats", {}).get("splits", {})
    rows = [(name, *(_num(s.get(k)) for k in ("examples", "tokens", "median_tokens", "p95_tokens", "max_tokens")))
            for name, s in splits.items()]
    out = table(("split", "examples", "tokens", "median tokens", "p95 tokens", "max tokens"), rows,
                numeric=(1, 2, 3, 4, 5))
    red = manifest.get("redaction", {})
    counts = red.get("counts", {})
    out += para(f"PII: {red.get('mode', '?')}; " + (", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
                                                    if counts else "nothing found to redact") + ".")
    dup = manifest.get("duplicates", {})
    out += para(f"Format {manifest.get('format', '?')}; tokens counted with {manifest.get('tokenizer', '?')}; "
                f"{dup.get('exact', 0)} exact duplicates; {len(manifest.get('warnings', []))} warning lines; "
                f"sources: {', '.join(manifest.get('sources', []))}.", "note")
    return out


def _cost(rec) -> str:
    est, actual = rec.estimate, rec.actual
    rows = []
    if est is not None:
        planned = est.planned_total(rec.spec.compute.spot)
        rows.append(("estimate", est.hardware, f"{est.hours * 3600:.0f}", str(planned)))
    if actual:
        cost = f"${float(actual['cost_usd']):.4f}" if "cost_usd" in actual else "—"
        rows.append(("actual", rec.provider, f"{actual.get('seconds', 0):.0f}", cost))
    if not rows:
        return para("No cost recorded.", "note")
    note = ""
    if actual.get("error_pct") is not None:
        note = para(f"The estimate was off by {actual['error_pct']:+.1f}% ({actual.get('basis', '')}).", "note")
    elif actual.get("basis"):
        note = para(f"Actual time: {actual['basis']}.", "note")
    return table(("", "where", "seconds", "cost"), rows, numeric=(2, 3)) + note


def build(target) -> str:
    """The report's HTML for a :class:`anytune.models.Target` with files on disk."""
    from ..evaluation.run import read

    folder = Path(target.path) if target.path else None
    metrics = atomic.read_json(folder / "metrics.json") if folder else {}
    result, samples = read(folder) if folder else (None, [])
    rec = target.record
    sections = []
    if metrics:
        sections.append(("Training", _training(metrics)))
    if result:
        sections.append(("Evaluation: base vs tuned" if "base" in result.get("models", {}) else "Evaluation",
                         _evaluation(result)))
    else:
        sections.append(("Evaluation", para("No generation evaluation in this model folder: run `anytune eval` "
                                            "with --output into it, or train with evaluation.enabled.", "note")))
    if samples:
        sections.append(("Sample answers", _samples(samples)))
    if rec is not None and rec.data_dir and (Path(rec.data_dir) / "manifest.json").is_file():
        sections.append(("Data", _data(atomic.read_json(Path(rec.data_dir) / "manifest.json"))))
    if rec is not None:
        sections.append(("Cost", _cost(rec)))
    base = metrics.get("base_model") or target.base_model or ""
    if rec is not None:
        title = f"{rec.name} — {rec.id}"
        sub = f"{rec.spec.method} fine-tune of {base} on {rec.provider}, {rec.state}, created {rec.created_at}"
    else:
        title = target.label
        sub = f"{metrics.get('method', 'model')} from {base}" if base else str(folder)
    return page(title, sub, sections)


def write(target, path: Path) -> Path:
    return atomic.write_text(path, build(target))


def default_path(target) -> Path:
    folder = Path(target.path)
    return folder.parent / f"{folder.name}-report.html"


__all__ = ["build", "default_path", "write"]
