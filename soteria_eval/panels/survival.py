"""Kaplan–Meier estimates for many groups at once (vectorised, no loop over groups).

The Kaplan–Meier estimator (Kaplan and Meier 1958) of the survival function is
``S(t) = Π_{t_j <= t} (1 - d_j / n_j)`` with ``d_j`` events and ``n_j`` at risk at each
distinct event time. The median is the smallest time at which ``S(t) < 0.5`` (strictly, as in SAS and
``statsmodels.duration.survfunc.SurvfuncRight``); it is undefined (NaN) where the curve
never falls that low.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def km_quantile_by_group(
    group: NDArray[np.int64],
    time: NDArray[np.float64],
    event: NDArray[np.bool_],
    n_groups: int,
    p: float = 0.5,
) -> NDArray[np.float64]:
    """Return, per group, the smallest time with ``S(t) < 1 - p`` (NaN if none).

    Parameters
    ----------
    group : int array
        Group code of each observation, ``0 <= group < n_groups``.
    time : float array
        Follow-up time (event or censoring).
    event : bool array
        True where the event was observed (False: censored).
    n_groups : int
        Number of groups.
    p : float
        Quantile of the event-time distribution (0.5: the median).
    """
    out = np.full(n_groups, np.nan)
    if group.size == 0:
        return out
    order = np.lexsort((time, group))
    g, t, e = group[order], time[order], event[order].astype(float)
    n = g.size
    # End (exclusive) of each observation's group in sorted order.
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], n]
    sizes = ends - starts
    group_end = np.repeat(ends, sizes)
    # Blocks of tied (group, time).
    new_block = np.r_[True, (g[1:] != g[:-1]) | (t[1:] != t[:-1])]
    block_start = np.flatnonzero(new_block)
    block_id = np.cumsum(new_block) - 1
    d = np.bincount(block_id, weights=e)
    at_risk = (group_end[block_start] - block_start).astype(float)
    bg, bt = g[block_start], t[block_start]
    # A block where every remaining observation has the event takes S to zero; it is the
    # group's last block. Keep the running sum finite and mark the block instead.
    wipeout = d >= at_risk
    log_factor = np.where(wipeout, 0.0, np.log1p(-np.where(wipeout, 0.0, d / at_risk)))
    cum = np.cumsum(log_factor)
    # Reset the running sum at each group's first block.
    first_block = np.r_[True, bg[1:] != bg[:-1]]
    offset = np.maximum.accumulate(np.where(first_block, np.arange(bg.size), 0))
    base = (cum - log_factor)[offset]
    log_s = cum - base
    below = (log_s < np.log(1 - p) - 1e-12) | wipeout
    hit_idx = np.flatnonzero(below)
    if hit_idx.size:
        first_hit = np.r_[True, bg[hit_idx][1:] != bg[hit_idx][:-1]]
        chosen = hit_idx[first_hit]
        out[bg[chosen]] = bt[chosen]
    return out
