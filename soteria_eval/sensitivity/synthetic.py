r"""Synthetic control for one treated unit, and synthetic difference-in-differences.

**Synthetic control** (Abadie, Diamond and Hainmueller 2010). For a treated unit with
pre-period outcomes :math:`y_1` and donor outcomes :math:`Y_0` (periods × donors), the
weights solve

.. math:: \min_{w \ge 0,\ \mathbf 1'w = 1} \lVert y_1 - Y_0 w \rVert^2

over the pre-period (outcomes only; no covariate matching matrix). The effect in a
post period is the gap :math:`y_{1t} - Y_{0t}w`. Placebo-in-space inference refits the
synthetic control for every donor as if it were treated (its donors: the other donors)
and ranks the treated unit's ratio of post- to pre-period root mean squared gap among
all of them; the p-value is that rank over the number of units.

**Pre-fit screening.** A placebo whose pre-period fit is far worse than the treated
unit's says little about it: :meth:`SyntheticControlResults.screened` drops the placebos
whose pre-period RMSPE exceeds :data:`PLACEBO_SCREEN` times the treated unit's (Abadie,
Diamond and Hainmueller 2010 show cut-offs of 20, 5 and 2), so the p-value ranks the
treated unit among comparable fits only. The treated unit's own fit is judged against
the donors': ``fit_ratio`` is its pre-period RMSPE over the median placebo's, and a
ratio above :data:`POOR_FIT` makes the fit ``"poor"``: the unit lies outside what the
donors can reproduce (the largest force is the usual case) and its gap is not an effect.

**Synthetic DiD** (Arkhangelsky, Athey, Hirshberg, Imbens and Wager 2021): unit weights
:math:`\omega` (simplex, with an intercept and a ridge penalty
:math:`\zeta^2 T_{pre}\lVert\omega\rVert^2`, :math:`\zeta = (N_{tr}T_{post})^{1/4}\hat\sigma`,
:math:`\hat\sigma` the standard deviation of the controls' first differences before
treatment) make the controls' pre-trend parallel to the treated units' average; time
weights :math:`\lambda` (simplex, intercept, a negligible ridge) make the weighted
pre-periods predictive of the post-period controls; the estimate is the weighted DiD

.. math:: \hat\tau = \big(\bar y_{tr,post} - \lambda'\bar y_{tr,pre}\big)
          - \sum_i \omega_i \big(\bar y_{i,post} - \lambda' y_{i,pre}\big).

Its standard error is the placebo variance (their Algorithm 4): the treated units are
replaced by randomly drawn controls, which is valid with few treated units. The weights
solve the quadratic programmes exactly (active set, KKT conditions checked) rather than by the Frank–Wolfe
iterations with early stopping of the R package ``synthdid``, so estimates can differ from
it in the fourth or fifth digit.

References
----------
Abadie, A., Diamond, A. and Hainmueller, J. (2010). Synthetic control methods for
comparative case studies. *JASA* 105(490).
Arkhangelsky, D., Athey, S., Hirshberg, D. A., Imbens, G. W. and Wager, S. (2021).
Synthetic difference-in-differences. *American Economic Review* 111(12).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, stats

Floats = NDArray[np.float64]


def simplex_least_squares(
    a: Floats, b: Floats, *, ridge: float = 0.0, intercept: bool = False
) -> Floats:
    r"""Solve :math:`\min_{w \ge 0, \mathbf 1'w = 1} \lVert a w + c - b\rVert^2 + \text{ridge}\,\lVert w\rVert^2`.

    ``c`` is a free intercept when ``intercept`` (profiled out by centring the rows), else
    zero. Solved exactly: non-negative least squares (the constraint as a heavily weighted
    row) finds the support, then an active-set refinement solves the KKT equations;
    SLSQP is the fallback.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if intercept:
        a = a - a.mean(axis=0, keepdims=True)
        b = b - b.mean()
    k = a.shape[1]
    if k == 1:
        return np.ones(1)
    gram = a.T @ a + ridge * np.eye(k)
    lin = a.T @ b
    # Non-negative least squares with the sum-to-one constraint as a heavily weighted row
    # (and the ridge as extra rows) finds the support fast; the KKT polish below makes the
    # solution exact. SLSQP is the fallback if the polish does not certify optimality.
    big = 1e4 * max(1.0, float(np.abs(a).max()), float(np.abs(b).max()))
    rows = [a, np.full((1, k), big)]
    rhs = [b, np.array([big])]
    if ridge > 0:
        rows.append(np.sqrt(ridge) * np.eye(k))
        rhs.append(np.zeros(k))
    w0, _ = optimize.nnls(np.vstack(rows), np.concatenate(rhs), maxiter=50 * k)
    w = w0 / w0.sum() if w0.sum() > 0 else np.full(k, 1.0 / k)
    polished = _polish(gram, lin, w)
    if polished is not None:
        return polished

    def fun(w: Floats) -> tuple[float, Floats]:
        return float(w @ gram @ w - 2 * lin @ w), 2 * (gram @ w - lin)

    res = optimize.minimize(
        fun,
        np.full(k, 1.0 / k),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(k)}],
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    w = np.clip(np.asarray(res.x, dtype=float), 0.0, None)
    w = w / w.sum()
    polished = _polish(gram, lin, w)
    return w if polished is None else polished


def _polish(gram: Floats, lin: Floats, w: Floats) -> Floats | None:
    """Active-set refinement from ``w``'s support: solve the KKT equations exactly.

    Drops weights that come out negative and adds the index with the most negative
    reduced gradient until the KKT conditions hold; ``None`` if that does not happen.
    """
    k = len(w)
    support = set(np.flatnonzero(w > 1e-9).tolist()) or {int(np.argmax(w))}
    for _ in range(4 * k):
        idx = np.array(sorted(support))
        m = len(idx)
        kkt = np.zeros((m + 1, m + 1))
        kkt[:m, :m] = gram[np.ix_(idx, idx)]
        kkt[:m, m] = kkt[m, :m] = 1.0
        try:
            sol = np.linalg.solve(kkt, np.r_[lin[idx], 1.0])
        except np.linalg.LinAlgError:
            return None
        if (sol[:m] < 0).any():
            support.discard(int(idx[int(np.argmin(sol[:m]))]))
            if not support:
                return None
            continue
        full = np.zeros(k)
        full[idx] = sol[:m]
        grad = gram @ full - lin
        reduced = grad - grad[idx].mean()
        tol = 1e-9 * max(1.0, float(np.abs(grad).max()))
        worst = int(np.argmin(reduced))
        if reduced[worst] >= -tol:
            return full
        support.add(worst)
    return None


def _wide(data: pd.DataFrame, outcome: str, unit: str, time: str) -> pd.DataFrame:
    missing = [c for c in (outcome, unit, time) if c not in data]
    if missing:
        raise ValueError(f"column(s) not in data: {missing}")
    if data.duplicated([unit, time]).any():
        row = data.loc[data.duplicated([unit, time])].iloc[0]
        raise ValueError(f"unit {row[unit]!r} has two rows for period {row[time]!r}")
    wide = data.pivot(index=time, columns=unit, values=outcome).sort_index()
    if wide.isna().to_numpy().any():
        bad = wide.columns[wide.isna().any().to_numpy()][0]
        raise ValueError(
            f"unit {bad!r} is missing {outcome!r} in some period: a balanced panel is needed"
        )
    return wide.astype(float)


#: Placebos with a pre-period RMSPE above this multiple of the treated unit's are left out
#: of the placebo distribution (Abadie, Diamond and Hainmueller 2010 use 20, 5 and 2).
PLACEBO_SCREEN = 5.0
#: The treated unit's pre-period fit is poor above this multiple of the median placebo's.
POOR_FIT = 2.0


@dataclass(frozen=True, repr=False)
class SyntheticControlResults:
    """A synthetic control fit with its placebo-in-space distribution.

    Attributes
    ----------
    weights : pandas.Series
        Donor weights (sum to one).
    path : pandas.DataFrame
        ``period, treated, synthetic, gap, post``.
    placebos : pandas.DataFrame
        ``unit, pre_rmspe, post_rmspe, ratio, average_gap, treated`` for the treated unit
        and every donor refitted as if treated.
    """

    unit: Hashable
    start: Any
    weights: pd.Series
    path: pd.DataFrame
    placebos: pd.DataFrame = field(repr=False)
    #: Placebos left out by :meth:`screened` (0 if not screened).
    n_screened_out: int = 0
    #: The multiple of the treated pre-RMSPE used by :meth:`screened` (``None``: not screened).
    screen: float | None = None

    def screened(self, max_ratio: float = PLACEBO_SCREEN) -> SyntheticControlResults:
        """Return a copy whose placebo distribution keeps only comparable pre-period fits.

        Placebos whose pre-period RMSPE exceeds ``max_ratio`` times the treated unit's are
        dropped (Abadie, Diamond and Hainmueller 2010, section 4); the p-value is then the
        treated unit's rank among the rest. The original is unchanged.
        """
        from dataclasses import replace

        if max_ratio <= 0:
            raise ValueError(f"max_ratio must be positive, got {max_ratio}")
        p = self.placebos
        mine = float(p.loc[p["treated"], "pre_rmspe"].iloc[0])
        keep = p["treated"] | (p["pre_rmspe"] <= max_ratio * mine)
        dropped = [f"placebo:{u}" for u in p.loc[~keep, "unit"]]
        return replace(
            self,
            placebos=p[keep].reset_index(drop=True),
            path=self.path.drop(columns=[c for c in dropped if c in self.path.columns]),
            n_screened_out=self.n_screened_out + int((~keep).sum()),
            screen=max_ratio,
        )

    @property
    def fit_ratio(self) -> float:
        """Treated pre-period RMSPE over the median placebo's (``nan`` without placebos)."""
        p = self.placebos
        others = p.loc[~p["treated"], "pre_rmspe"]
        if others.empty:
            return float("nan")
        mine = float(p.loc[p["treated"], "pre_rmspe"].iloc[0])
        med = float(others.median())
        return mine / med if med > 0 else float("inf")

    @property
    def pre_fit(self) -> str:
        """``"poor"`` if :attr:`fit_ratio` exceeds :data:`POOR_FIT`, else ``"good"``."""
        return "poor" if self.fit_ratio > POOR_FIT else "good"

    @property
    def average_effect(self) -> float:
        """Mean post-period gap."""
        return float(self.path.loc[self.path["post"], "gap"].mean())

    @property
    def p_value(self) -> float:
        """Rank of the treated unit's post/pre RMSPE ratio among all units, over their number."""
        p = self.placebos
        mine = float(p.loc[p["treated"], "ratio"].iloc[0])
        return float(np.mean(p["ratio"] >= mine * (1 - 1e-12)))

    def tidy(self) -> pd.DataFrame:
        """Return one row of the fit and its placebo inference.

        Columns: ``unit, estimate, pre_rmspe, ratio, fit_ratio, pre_fit, p_value,
        n_placebos, n_screened_out, inference``.
        """
        p = self.placebos
        row = p.loc[p["treated"]].iloc[0]
        how = "placebo in space (rank of post/pre RMSPE ratio)"
        if self.screen is not None:
            how += f"; placebos with pre-RMSPE over {self.screen:g}x the treated unit's left out"
        return pd.DataFrame(
            {
                "unit": [self.unit],
                "estimate": [self.average_effect],
                "pre_rmspe": [row["pre_rmspe"]],
                "ratio": [row["ratio"]],
                "fit_ratio": [self.fit_ratio],
                "pre_fit": [self.pre_fit],
                "p_value": [self.p_value],
                "n_placebos": [len(p) - 1],
                "n_screened_out": [self.n_screened_out],
                "inference": [how],
            }
        )

    def __repr__(self) -> str:
        from soteria_eval.results import short_repr

        top = self.weights.sort_values(ascending=False).head(3)
        donors = ", ".join(f"{k} {v:.2f}" for k, v in top.items() if v > 0)
        return short_repr(
            self,
            [
                f"synthetic control for {self.unit} from {self.start}",
                f"average effect {self.average_effect:.4g}",
                f"placebo p = {self.p_value:.3g}",
                f"top donors {donors}",
            ],
        )

    def plot(self, *, title: str = "") -> Any:
        """Treated and synthetic paths, and every placebo's gap behind the treated gap."""
        from soteria_eval.plotting import synthetic_control_plot

        return synthetic_control_plot(self, title=title)


def _fit_one(
    wide: pd.DataFrame, unit: Hashable, donors: list[Hashable], pre: NDArray[np.bool_]
) -> tuple[Floats, Floats]:
    y1 = wide[unit].to_numpy()
    y0 = wide[donors].to_numpy()
    w = simplex_least_squares(y0[pre], y1[pre])
    return w, y1 - y0 @ w


def synthetic_control(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    treated_unit: Hashable,
    start: Any,
    donors: Sequence[Hashable] | None = None,
    placebo: bool = True,
) -> SyntheticControlResults:
    """Fit a synthetic control for one treated unit (see the module docstring).

    Parameters
    ----------
    data : pandas.DataFrame
        Balanced long panel.
    treated_unit : hashable
        The unit to reconstruct.
    start : period
        First treated period (compared with the ``time`` values).
    donors : sequence, optional
        The donor pool (default: every other unit); exclude other treated and exposed
        units.
    placebo : bool
        Refit for every donor (placebo in space).
    """
    wide = _wide(data, outcome, unit, time)
    if treated_unit not in wide.columns:
        raise ValueError(f"treated unit {treated_unit!r} not in column {unit!r}")
    pool = [u for u in (wide.columns if donors is None else donors) if u != treated_unit]
    missing = [u for u in pool if u not in wide.columns]
    if missing:
        raise ValueError(f"donor(s) {missing} not in column {unit!r}")
    if len(pool) < 2:
        raise ValueError("a synthetic control needs at least two donors")
    pre = np.asarray(wide.index < start)
    if pre.sum() < 2 or (~pre).sum() < 1:
        raise ValueError(f"start {start!r} must leave at least two pre-periods and one post-period")
    w, gap = _fit_one(wide, treated_unit, pool, pre)
    rows = []

    def summary(u: Hashable, g: Floats, is_treated: bool) -> tuple[Any, ...]:
        pre_r = float(np.sqrt(np.mean(g[pre] ** 2)))
        post_r = float(np.sqrt(np.mean(g[~pre] ** 2)))
        return (
            u,
            pre_r,
            post_r,
            post_r / pre_r if pre_r > 0 else np.inf,
            float(g[~pre].mean()),
            is_treated,
        )

    rows.append(summary(treated_unit, gap, True))
    gaps = (
        {u: _fit_one(wide, u, [v for v in pool if v != u], pre)[1] for u in pool} if placebo else {}
    )
    rows += [summary(u, g, False) for u, g in gaps.items()]
    placebos = pd.DataFrame(
        rows, columns=["unit", "pre_rmspe", "post_rmspe", "ratio", "average_gap", "treated"]
    )
    path = pd.DataFrame(
        {
            "period": wide.index,
            "treated": wide[treated_unit].to_numpy(),
            "synthetic": wide[treated_unit].to_numpy() - gap,
            "gap": gap,
            "post": ~pre,
        }
    )
    if gaps:
        path = path.assign(**{f"placebo:{u}": g for u, g in gaps.items()})
    return SyntheticControlResults(
        unit=treated_unit,
        start=start,
        weights=pd.Series(w, index=pd.Index(pool, name=unit), name="weight"),
        path=path,
        placebos=placebos,
    )


@dataclass(frozen=True, repr=False)
class SyntheticDiDResults:
    """Synthetic DiD estimate with its weights and placebo standard error."""

    estimate: float
    std_error: float
    unit_weights: pd.Series
    time_weights: pd.Series
    n_treated: int
    n_placebo: int
    zeta: float
    path: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def __repr__(self) -> str:
        from soteria_eval.results import short_repr

        return short_repr(
            self,
            [
                f"synthetic DiD estimate {self.estimate:.4g} (SE {self.std_error:.3g})",
                f"{self.n_treated} treated",
                f"{self.n_placebo} placebos",
            ],
        )

    def plot(self, *, title: str = "") -> Any:
        """Plot the treated average against the unit-weighted controls, with time weights.

        The controls are shifted to match the time-weighted pre-period.
        """
        from soteria_eval.plotting import synthetic_did_plot

        return synthetic_did_plot(self, title=title)

    def tidy(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row in the tidy layout (normal interval with the placebo SE)."""
        z = stats.norm.ppf(1 - alpha / 2)
        stat = self.estimate / self.std_error if self.std_error > 0 else np.nan
        return pd.DataFrame(
            {
                "term": ["ATT"],
                "estimate": [self.estimate],
                "std_error": [self.std_error],
                "statistic": [stat],
                "df": [np.inf],
                "p_value": [2 * stats.norm.sf(abs(stat))],
                "ci_lower": [self.estimate - z * self.std_error],
                "ci_upper": [self.estimate + z * self.std_error],
                "inference": [f"synthetic DiD, placebo variance ({self.n_placebo} replications)"],
            }
        )


def _sdid_estimate(y: Floats, n_co: int, t_pre: int) -> tuple[float, Floats, Floats, float]:
    """Estimate from a wide matrix ``y`` (units × periods): controls first, then treated."""
    n_tr = y.shape[0] - n_co
    t_post = y.shape[1] - t_pre
    co, tr = y[:n_co], y[n_co:]
    diffs = np.diff(co[:, :t_pre], axis=1)
    sigma = float(diffs.std(ddof=1)) if diffs.size > 1 else 0.0
    zeta = (n_tr * t_post) ** 0.25 * sigma
    omega = simplex_least_squares(
        co[:, :t_pre].T, tr[:, :t_pre].mean(axis=0), ridge=zeta**2 * t_pre, intercept=True
    )
    lam = simplex_least_squares(
        co[:, :t_pre], co[:, t_pre:].mean(axis=1), ridge=(1e-6 * sigma) ** 2 * n_co, intercept=True
    )
    tr_bar = tr.mean(axis=0)
    treated_part = tr_bar[t_pre:].mean() - lam @ tr_bar[:t_pre]
    control_part = omega @ (co[:, t_pre:].mean(axis=1) - co[:, :t_pre] @ lam)
    return float(treated_part - control_part), omega, lam, zeta


def synthetic_did(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    treated_units: Sequence[Hashable],
    start: Any,
    n_placebo: int = 200,
    seed: int = 0,
) -> SyntheticDiDResults:
    """Estimate a synthetic DiD for units treated together at ``start`` (see the module docstring).

    Parameters
    ----------
    treated_units : sequence
        Units treated from ``start`` on (a block design); every other unit is a control.
    n_placebo : int
        Placebo replications for the standard error (each draws as many controls as there
        are treated units and re-estimates on the controls only).
    """
    wide = _wide(data, outcome, unit, time)
    treated = [u for u in treated_units]
    missing = [u for u in treated if u not in wide.columns]
    if missing:
        raise ValueError(f"treated unit(s) {missing} not in column {unit!r}")
    controls = [u for u in wide.columns if u not in set(treated)]
    if len(controls) <= len(treated):
        raise ValueError(
            "the placebo variance needs more control units than treated units "
            f"({len(controls)} controls, {len(treated)} treated)"
        )
    pre = np.asarray(wide.index < start)
    t_pre = int(pre.sum())
    if t_pre < 2 or t_pre == len(pre) or not pre[:t_pre].all():
        raise ValueError(f"start {start!r} must leave at least two pre-periods and one post-period")
    y = wide[controls + treated].to_numpy().T
    est, omega, lam, zeta = _sdid_estimate(y, len(controls), t_pre)
    rng = np.random.default_rng(seed)
    y_co = wide[controls].to_numpy().T
    draws = np.empty(n_placebo)
    for r in range(n_placebo):
        perm = rng.permutation(len(controls))
        y_p = y_co[np.r_[perm[len(treated) :], perm[: len(treated)]]]
        draws[r] = _sdid_estimate(y_p, len(controls) - len(treated), t_pre)[0]
    tr_mean = wide[treated].to_numpy().mean(axis=1)
    synth = wide[controls].to_numpy() @ omega
    shift = float(lam @ (tr_mean[:t_pre] - synth[:t_pre]))
    path = pd.DataFrame(
        {
            "period": wide.index,
            "treated": tr_mean,
            "synthetic": synth + shift,
            "post": ~pre,
            "time_weight": np.r_[lam, np.zeros(len(pre) - t_pre)],
        }
    )
    return SyntheticDiDResults(
        path=path,
        estimate=est,
        std_error=float(np.sqrt(np.mean((draws - draws.mean()) ** 2))),
        unit_weights=pd.Series(omega, index=pd.Index(controls, name=unit), name="omega"),
        time_weights=pd.Series(lam, index=wide.index[pre], name="lambda"),
        n_treated=len(treated),
        n_placebo=n_placebo,
        zeta=zeta,
    )


__all__ = [
    "SyntheticControlResults",
    "SyntheticDiDResults",
    "simplex_least_squares",
    "synthetic_control",
    "synthetic_did",
]
