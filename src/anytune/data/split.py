"""Train/validation/test assignment: seeded, stratified by label, grouped so duplicates never cross splits.

Records are grouped by their normalised-text digest (exact and near duplicates share a group). Groups are
put in a seeded random order that does not depend on input order (the order of the sorted digests,
permuted), then stably sorted by label; within each label every group goes to the split its midpoint
falls in. So each label keeps the split fractions, a group lands in exactly one split, and the same data
gives the same split on any machine.
"""

from __future__ import annotations

from typing import Any

TRAIN, VALIDATION, TEST = 0, 1, 2
NAMES = ("train", "validation", "test")


def assign(norm: Any, labels: Any | None, fractions: tuple[float, float, float], seed: int) -> Any:
    """Split index (0 train, 1 validation, 2 test) per record; arrays of uint64 digests in, int8 out."""
    import numpy as np

    n = len(norm)
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    groups, first, inverse, sizes = np.unique(norm, return_index=True, return_inverse=True, return_counts=True)
    del groups
    g_label = labels[first] if labels is not None else np.zeros(len(first), dtype=np.uint64)
    order = np.random.default_rng(seed).permutation(len(first))
    order = order[np.argsort(g_label[order], kind="stable")]
    sz = sizes[order].astype(np.float64)
    labs = g_label[order]
    start = np.cumsum(sz) - sz
    new_stratum = np.ones(len(order), dtype=bool)
    new_stratum[1:] = labs[1:] != labs[:-1]
    stratum_id = np.cumsum(new_stratum) - 1
    stratum_start = start[new_stratum][stratum_id]
    stratum_total = np.bincount(stratum_id, weights=sz)[stratum_id]
    pos = (start - stratum_start + sz / 2) / stratum_total
    f_train, f_val, _ = fractions
    split = np.where(pos < f_train, TRAIN, np.where(pos < f_train + f_val, VALIDATION, TEST)).astype(np.int8)
    by_group = np.empty(len(order), dtype=np.int8)
    by_group[order] = split
    return by_group[inverse.reshape(-1)]


def overlap(a: Any, b: Any) -> Any:
    """Mask over ``b``: which of its digests also occur in ``a``."""
    import numpy as np

    if len(a) == 0 or len(b) == 0:
        return np.zeros(len(b), dtype=bool)
    return np.isin(b, a)
