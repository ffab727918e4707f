r"""Goodman-Bacon (2021) decomposition of the two-way fixed-effects DiD estimate.

With staggered adoption, the TWFE coefficient is a weighted average of every 2x2 DiD
between timing groups:

* a treated cohort against never-treated units;
* an earlier cohort against a later one *before* the later one starts (a clean comparison);
* a later cohort against an earlier one *after* the earlier one started — the "forbidden"
  comparison: the control group is already treated, so changing effects bias it.

The weights are proportional to group sizes and to the variance of treatment in each
comparison; they sum to one and the weighted 2x2 estimates add up to the TWFE estimate
exactly (balanced panel, binary absorbing treatment, no covariates). Seeing large weight
on forbidden comparisons tells a reader why TWFE and Callaway–Sant'Anna differ.

Reference: Goodman-Bacon, A. (2021). Difference-in-differences with variation in
treatment timing. *Journal of Econometrics* 225(2), 254–277.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BACON_COLUMNS = ("type", "treated", "control", "estimate", "weight")


def _did(
    y: pd.DataFrame, treat: list[object], ctrl: list[object], pre: np.ndarray, post: np.ndarray
) -> float:
    yt, yc = y.loc[treat].to_numpy(), y.loc[ctrl].to_numpy()
    return float(
        (yt[:, post].mean() - yt[:, pre].mean()) - (yc[:, post].mean() - yc[:, pre].mean())
    )


def bacon_decomposition(
    data: pd.DataFrame, *, outcome: str, unit: str, time: str, treatment: str
) -> pd.DataFrame:
    """Decompose the TWFE DiD estimate into its 2x2 comparisons (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`BACON_COLUMNS`; ``attrs["twfe"]`` holds the weighted sum (the TWFE
        estimate) and ``attrs["by_type"]`` the weight and average estimate per type.
    """
    y = data.pivot(index=unit, columns=time, values=outcome)
    d = data.pivot(index=unit, columns=time, values=treatment)
    if y.isna().any().any() or d.isna().any().any():
        raise ValueError("the Bacon decomposition needs a balanced panel with no missing values")
    dm = d.to_numpy(dtype=float)
    if not np.isin(dm, [0.0, 1.0]).all() or (np.diff(dm, axis=1) < 0).any():
        raise ValueError("treatment must be binary and absorbing (never switching off)")
    n_t = dm.shape[1]
    if (dm[:, 0] == 1).any():
        raise ValueError(
            "units treated in the first period (always treated) are not supported; drop them"
        )
    first = np.where(dm.any(axis=1), dm.argmax(axis=1), -1)  # index of first treated period
    groups = pd.Series(first, index=y.index)
    timing = sorted(g for g in groups.unique() if g >= 0)
    share = {g: float((groups == g).mean()) for g in groups.unique()}
    dbar = {g: (n_t - g) / n_t for g in timing}
    dt = dm - dm.mean(axis=1, keepdims=True) - dm.mean(axis=0, keepdims=True) + dm.mean()
    var_d = float((dt**2).mean())
    periods = np.arange(n_t)
    rows = []
    never = -1 in share
    for k in timing:
        tk = list(groups.index[groups == k])
        if never:
            nu = share[-1]
            nk = share[k]
            nku = nk / (nk + nu)
            w = (nk + nu) ** 2 * nku * (1 - nku) * dbar[k] * (1 - dbar[k]) / var_d
            est = _did(y, tk, list(groups.index[groups == -1]), periods < k, periods >= k)
            rows.append(("treated vs never treated", k, "never", est, w))
        for l_ in timing:
            if l_ <= k:
                continue
            tl = list(groups.index[groups == l_])
            nk, nl = share[k], share[l_]
            nkl = nk / (nk + nl)
            dk, dl = dbar[k], dbar[l_]
            w_early = (
                ((nk + nl) * (1 - dl)) ** 2
                * nkl
                * (1 - nkl)
                * ((dk - dl) / (1 - dl))
                * ((1 - dk) / (1 - dl))
                / var_d
            )
            est_early = _did(y, tk, tl, periods < k, (periods >= k) & (periods < l_))
            rows.append(("earlier vs later treated", k, l_, est_early, w_early))
            w_late = ((nk + nl) * dk) ** 2 * nkl * (1 - nkl) * (dl / dk) * ((dk - dl) / dk) / var_d
            est_late = _did(y, tl, tk, (periods >= k) & (periods < l_), periods >= l_)
            rows.append(
                ("later vs earlier treated (already-treated controls)", l_, k, est_late, w_late)
            )
    labels = list(y.columns)
    out = pd.DataFrame(rows, columns=list(BACON_COLUMNS))
    out["treated"] = out["treated"].map(lambda g: labels[int(g)])
    out["control"] = out["control"].map(lambda g: g if g == "never" else labels[int(g)])
    out.attrs["twfe"] = float((out["estimate"] * out["weight"]).sum())
    weighted = (
        out.assign(_we=out["estimate"] * out["weight"]).groupby("type")[["weight", "_we"]].sum()
    )
    by_type = pd.DataFrame(
        {"weight": weighted["weight"], "estimate": weighted["_we"] / weighted["weight"]}
    )
    out.attrs["by_type"] = by_type
    return out
