"""The evaluation's scores and its paired bootstrap, against hand-computed values."""

from __future__ import annotations

import pytest

from anytune.evaluation.judge import parse_grade
from anytune.evaluation.metrics import bleu, exact_match, paired_bootstrap, rouge_l, score, token_f1


def test_exact_match_normalises_case_punctuation_and_articles():
    assert exact_match("The printer, restarted!", "printer restarted") == 1.0
    assert exact_match("Restart the printer.", "Restart the router.") == 0.0


def test_token_f1_by_hand():
    # prediction {restart, printer, now}, reference {restart, printer}: P = 2/3, R = 1, F1 = 0.8
    assert token_f1("Restart printer now", "restart the printer") == pytest.approx(0.8)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0


def test_rouge_l_and_bleu_come_from_their_libraries():
    # LCS of "a b c d" and "a c d e" is "a c d": P = R = 3/4
    assert rouge_l("alpha beta gamma delta", "alpha gamma delta eps") == pytest.approx(0.75)
    assert bleu("Open Settings and click Reset password.", "Open Settings and click Reset password.") == pytest.approx(1.0)
    assert bleu("completely different words here", "Open Settings and click Reset password.") < 0.1
    assert set(score(["exact_match", "bleu"], "a", "a")) == {"exact_match", "bleu"}


def test_paired_bootstrap_ci_excludes_zero_for_a_real_gain_and_holds_zero_for_none():
    tuned = [0.9, 0.8, 0.85, 0.95, 0.7] * 8
    base = [0.1, 0.2, 0.15, 0.05, 0.3] * 8
    lo, hi = paired_bootstrap(tuned, base)
    assert 0 < lo < 0.7 < hi < 1  # the mean difference is 0.7
    same = [0.5, 0.1, 0.9, 0.3] * 10
    lo, hi = paired_bootstrap(same, list(reversed(same)))
    assert lo < 0 < hi


def test_judge_grades_are_parsed_or_counted_missing():
    assert parse_grade('{"score": 7}') == 7
    assert parse_grade("Score: 9/10") == 9
    assert parse_grade("no idea") is None and parse_grade('{"score": 42}') is None
