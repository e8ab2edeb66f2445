"""Per-example scores of a generation against its reference, each in [0, 1], and the paired bootstrap.

- ``exact_match``, ``token_f1``: SQuAD's definitions (lower case, punctuation and English articles removed,
  whitespace collapsed), as in its official evaluation script.
- ``rouge_l``: ROUGE-L F-measure from Google's ``rouge-score`` (its tokenizer, no stemming).
- ``bleu``: sentence BLEU from ``sacrebleu`` (exponential smoothing), divided by 100.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache

_PUNCT = set(string.punctuation)


def normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@cache
def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(prediction: str, reference: str) -> float:
    return _rouge().score(reference, prediction)["rougeL"].fmeasure


def bleu(prediction: str, reference: str) -> float:
    import sacrebleu

    return sacrebleu.sentence_bleu(prediction, [reference]).score / 100


METRICS: dict[str, Callable[[str, str], float]] = {
    "exact_match": exact_match, "token_f1": token_f1, "rouge_l": rouge_l, "bleu": bleu}


def score(names: Sequence[str], prediction: str, reference: str) -> dict[str, float]:
    return {n: round(METRICS[n](prediction, reference), 6) for n in names}


def paired_bootstrap(tuned: Sequence[float], base: Sequence[float], *, resamples: int = 2000,
                     seed: int = 0) -> tuple[float, float]:
    """95% confidence interval of mean(tuned - base), resampling examples with replacement (pairs kept)."""
    import numpy as np

    diff = np.asarray(tuned, dtype=float) - np.asarray(base, dtype=float)
    if diff.size == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)
