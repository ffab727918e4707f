"""Multiple-testing adjustments across measures.

``holm``
    Holm (1979) step-down: controls the family-wise error rate.
``bh``
    Benjamini and Hochberg (1995) step-up: controls the false discovery rate.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

Method = Literal["holm", "bh"]


def adjust_pvalues(pvalues: ArrayLike, method: str = "holm") -> NDArray[np.float64]:
    """Return adjusted p-values (NaNs stay NaN and do not count in the family).

    Parameters
    ----------
    pvalues : array-like
        Unadjusted p-values of one family.
    method : {"holm", "bh"}
        Adjustment.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, in the input order, capped at 1. Equal to R's
        ``p.adjust(p, method = "holm" | "BH")``.
    """
    if method not in get_args(Method):
        raise ValueError(f"method must be one of {get_args(Method)}, got {method!r}")
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    ranked = q[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        adj = np.minimum.accumulate((m / np.arange(m, 0, -1)) * ranked[::-1])[::-1]
    adj = np.minimum(adj, 1.0)
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out
