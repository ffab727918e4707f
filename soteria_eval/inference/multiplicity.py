"""Multiple-testing adjustments across measures.

``holm``
    Holm (1979) step-down: controls the family-wise error rate.
``bh``
    Benjamini and Hochberg (1995) step-up: controls the false discovery rate.
Romano–Wolf
    Romano and Wolf (2005, 2016) step-down from a joint bootstrap (or randomization)
    distribution of the test statistics: controls the family-wise error rate and, unlike
    Holm, uses the dependence between the measures (:func:`romano_wolf`).
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


def romano_wolf(t_obs: ArrayLike, t_null: ArrayLike) -> NDArray[np.float64]:
    r"""Romano–Wolf step-down adjusted p-values from null draws of the statistics.

    Parameters
    ----------
    t_obs : array-like, shape (K,)
        Observed statistics of the K hypotheses (two-sided: absolute values are used).
    t_null : array-like, shape (B, K)
        Draws of the statistics under the joint null (e.g. WCR bootstrap t statistics with
        the same weights for every hypothesis, or randomization statistics).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order. With hypotheses ordered by
        :math:`|t_{(1)}| \ge \dots \ge |t_{(K)}|`,

        .. math:: p_{(j)} = \max\Big(p_{(j-1)},\ \frac1B\sum_b 1\big[\max_{k \ge j} |t^*_{b(k)}| \ge |t_{(j)}|\big]\Big).

    References
    ----------
    Romano, J. P. and Wolf, M. (2005). Stepwise multiple testing as formalized data
    snooping. *Econometrica* 73(4). Clarke, D., Romano, J. P. and Wolf, M. (2020). The
    Romano–Wolf multiple-hypothesis correction in Stata. *The Stata Journal* 20(4).
    """
    t = np.abs(np.asarray(t_obs, dtype=float))
    tb = np.abs(np.asarray(t_null, dtype=float))
    if tb.ndim != 2 or tb.shape[1] != t.size:
        raise ValueError(f"t_null must have shape (B, {t.size}), got {tb.shape}")
    if np.isnan(t).any() or np.isnan(tb).any():
        raise ValueError("statistics must not be missing")
    order = np.argsort(-t, kind="stable")
    # Running maximum over the hypotheses still in the step-down set, from the least
    # significant backwards: column j is max over ordered hypotheses j..K.
    tail_max = np.maximum.accumulate(tb[:, order][:, ::-1], axis=1)[:, ::-1]
    raw = np.mean(tail_max >= t[order][None, :] * (1 - 1e-12), axis=0)
    adj = np.maximum.accumulate(raw)
    out: NDArray[np.float64] = np.empty_like(t)
    out[order] = adj
    return out
