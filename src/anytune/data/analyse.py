"""Whole-dataset checks on the gathered digests: too-long examples, duplicates, splits, leakage, minimum
counts and token statistics. Pure numpy over small arrays; the text is never looked at again here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..types import DataStats, SplitStats
from .gather import Gathered
from .hashing import content_hash
from .options import DataOptions
from .report import Report
from .split import NAMES, TEST, TRAIN, VALIDATION, assign, overlap

SHOW = 5  # examples named per finding


@dataclass
class Outcome:
    report: Report
    split: Any  # int8 per valid record: 0/1/2, -1 = dropped
    stats: DataStats | None
    content_hash: str | None


def _where(g: Gathered, i: int) -> tuple[str, int]:
    return g.files[int(g.file_id[i])][1], int(g.line[i])


def analyse(opts: DataOptions, g: Gathered) -> Outcome:
    import numpy as np

    diags = g.diags
    n = len(g.norm) if g.norm is not None else 0
    report = Report(files=g.sources, format=g.target, diagnostics=diags, examples=n, lines=g.read,
                    tokenizer=g.tokenizer.name if g.tokenizer else "not counted",
                    approximate_tokens=bool(g.tokenizer and g.tokenizer.approximate),
                    max_seq_length=opts.max_seq_length, redaction=dict(sorted(g.redaction.items())),
                    conversions=dict(g.conversions), columns=dict(g.columns))
    if n == 0:
        if not diags.total("error"):
            diags.error("empty", "no examples", file=report.files[0] if report.files else None,
                        hint="the files hold no records")
        elif g.read:
            diags.error("no_valid", f"none of the {g.read} records is usable", hint="fix the errors above")
        return Outcome(report, np.zeros(0, dtype=np.int8), None, None)

    keep = g.tokens != -2  # -2: the model's chat template rejected it (already an error)
    counted = bool((g.tokens >= 0).any())
    _too_long(opts, g, report, keep, counted)
    _duplicates(g, report)

    # --- splits -------------------------------------------------------------------------------------
    role = g.role_of()
    split = np.full(n, -1, dtype=np.int8)
    split[role == VALIDATION] = VALIDATION
    split[role == TEST] = TEST
    pool = role == TRAIN
    f = list(opts.split)
    if opts.validation not in ("auto",):
        f[VALIDATION] = 0.0
    if opts.test not in ("auto",):
        f[TEST] = 0.0
    total = sum(f)
    fractions = (f[0] / total, f[1] / total, f[2] / total)
    if pool.any():
        split[pool] = assign(g.norm[pool], g.label[pool] if g.label is not None else None, fractions, opts.seed)
    split[~keep] = -1
    _leakage(g, report, split)
    _minimums(opts, report, split, fractions)

    splits: dict[str, SplitStats] = {}
    digests: dict[str, Any] = {}
    for k, name in enumerate(NAMES):
        mask = split == k
        if not mask.any():
            continue
        tok = g.tokens[mask]
        if counted and opts.max_seq_length:
            tok = np.minimum(tok, opts.max_seq_length)
        splits[name] = _split_stats(int(mask.sum()), tok if counted else None)
        digests[name] = g.sha[mask]
    report.splits = {k: v.model_dump() for k, v in splits.items()}
    stats = DataStats(splits=splits, tokenizer=report.tokenizer, approximate=report.approximate_tokens) \
        if "train" in splits else None
    settings = {"format": g.target, "tokenizer": g.tokenizer.identity if g.tokenizer else None,
                "max_seq_length": opts.max_seq_length, "too_long": opts.too_long}
    report.content_hash = content_hash(digests, settings) if splits and report.ok else None
    return Outcome(report, split, stats, report.content_hash)


def _split_stats(examples: int, tok: Any | None) -> SplitStats:
    import numpy as np

    if tok is None or len(tok) == 0:
        return SplitStats(examples=examples, tokens=0)
    return SplitStats(examples=examples, tokens=int(tok.sum()), min_tokens=int(tok.min()),
                      median_tokens=float(np.median(tok)), p95_tokens=float(np.percentile(tok, 95)),
                      max_tokens=int(tok.max()))


def _too_long(opts: DataOptions, g: Gathered, report: Report, keep: Any, counted: bool) -> None:
    import numpy as np

    if not counted or not opts.max_seq_length:
        return
    over = np.flatnonzero((g.tokens > opts.max_seq_length) & keep)
    worst = over[np.argsort(-g.tokens[over], kind="stable")][:SHOW]
    report.too_long = {"count": int(len(over)), "policy": opts.too_long, "max_seq_length": opts.max_seq_length,
                       "worst": [{"file": _where(g, i)[0], "line": _where(g, i)[1], "tokens": int(g.tokens[i])}
                                 for i in worst]}
    if not len(over):
        return
    approx = " (approximate counts)" if report.approximate_tokens else ""
    what = {"truncate": "will be truncated to", "drop": "are dropped: longer than",
            "fail": "are longer than"}[opts.too_long]
    sev = "error" if opts.too_long == "fail" else "warning"
    report.diagnostics.add(sev, "too_long", f"{len(over)} examples {what} max_seq_length={opts.max_seq_length} "
                           f"tokens{approx}", hint="raise hyperparameters.max_seq_length, shorten them, or set "
                           "data.too_long: truncate | drop | fail")
    for i in worst:
        file, line = _where(g, i)
        report.diagnostics.add(sev, "too_long_example", f"{int(g.tokens[i])} tokens{approx}", file=file, line=line)
    if opts.too_long == "drop":
        keep[over] = False


def _duplicates(g: Gathered, report: Report) -> None:
    import numpy as np

    exact = g.sha.view(np.uint64).reshape(-1, 4)[:, 0] if len(g.sha) else np.zeros(0, dtype=np.uint64)
    found = {}
    for kind, keys in (("exact", exact), ("normalised", g.norm)):
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        dup = np.flatnonzero(first[inverse.reshape(-1)] != np.arange(len(keys)))
        found[kind] = (dup, first[inverse.reshape(-1)])
    n_exact = len(found["exact"][0])
    n_norm = len(found["normalised"][0]) - n_exact
    report.duplicates = {"exact": int(n_exact), "normalised": int(n_norm)}
    exact_set = set(found["exact"][0][:1000].tolist())
    for kind, (dup, firsts) in found.items():
        shown = 0
        for i in dup:
            if kind == "normalised" and int(i) in exact_set:
                continue
            if shown == SHOW:
                break
            shown += 1
            file, line = _where(g, i)
            ofile, oline = _where(g, firsts[i])
            same = f"line {oline}" if ofile == file else f"{ofile}:{oline}"
            what = "repeats" if kind == "exact" else "repeats (ignoring case and spacing)"
            report.diagnostics.warning(f"duplicate_{kind}", f"{what} {same}", file=file, line=line,
                                       hint="duplicates are kept together in one split; remove them if unintended")
        extra = (n_exact if kind == "exact" else n_norm) - shown
        if extra > 0:
            report.diagnostics.count_only("warning", f"duplicate_{kind}", extra)


def _leakage(g: Gathered, report: Report, split: Any) -> None:
    import numpy as np

    for a, b in ((TRAIN, VALIDATION), (TRAIN, TEST), (VALIDATION, TEST)):
        ib = np.flatnonzero(split == b)
        mask = overlap(g.norm[split == a], g.norm[ib])
        count = int(mask.sum())
        report.leakage[f"{NAMES[a]}/{NAMES[b]}"] = count
        if count:
            file, line = _where(g, ib[np.flatnonzero(mask)[0]])
            report.diagnostics.warning(
                "leakage", f"{count} {NAMES[b]} examples also occur in {NAMES[a]} (first one here)", file=file,
                line=line, hint=f"remove them from the {NAMES[b]} file, or let anytune split the data (auto)")


def _minimums(opts: DataOptions, report: Report, split: Any, fractions: tuple[float, float, float]) -> None:
    counts = [int((split == k).sum()) for k in range(3)]
    d = report.diagnostics
    if counts[TRAIN] < opts.min_examples:
        d.error("too_few", f"{counts[TRAIN]} training examples; at least {opts.min_examples} are needed",
                hint="add examples (the job's providers set this minimum)")
    for k, auto in ((VALIDATION, opts.validation == "auto"), (TEST, opts.test == "auto")):
        if auto and fractions[k] > 0 and counts[k] == 0 and counts[TRAIN] > 0:
            total = sum(counts)
            pct = "/".join(f"{x * 100:.0f}" for x in opts.split)
            d.error("too_few", f"{total} examples are too few for a {pct} split: {NAMES[k]} would be empty",
                    hint=f"add examples, give data.{NAMES[k]} a file" + (", or set data.test: none" if k == TEST
                                                                          else ""))
