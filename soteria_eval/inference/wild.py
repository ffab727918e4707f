r"""Wild cluster bootstrap for one coefficient of a linear model with absorbed fixed effects.

The restricted wild cluster bootstrap (WCR; Cameron, Gelbach and Miller 2008) imposes the
null :math:`\beta_j = \beta_0`, multiplies each cluster's restricted residuals by a random
weight :math:`v_g` (Rademacher, Webb or Mammen), refits, and compares the bootstrap
cluster-robust t statistics with the original one. With few clusters it keeps its size
far better than CR1 t tests, except when very few clusters are treated (MacKinnon and
Webb 2017), which the coverage study documents.

Computation follows "fast and wild" (Roodman, MacKinnon, Nielsen and Webb 2019): every
quantity a draw needs is a G-vector or a G×G matrix built once, so the cost of a draw is
O(G²) whatever the number of observations, and all draws are one matrix product. Fixed
effects are absorbed, yet the bootstrap residuals are re-projected on them exactly as in
the regression with one dummy per level. Confidence intervals invert the test: the
restricted residuals, and so every G×G matrix, are linear in :math:`\beta_0`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from soteria_eval.covariance import LinearFit
from soteria_eval.linear_model import LinearResults, codes_of

Weights = Literal["rademacher", "webb", "mammen"]
Floats = NDArray[np.float64]


def draw_weights(
    kind: str, n_boot: int, n_clusters: int, rng: np.random.Generator
) -> tuple[Floats, bool]:
    """Return a ``n_boot × n_clusters`` matrix of wild weights, and whether it enumerates.

    Rademacher weights are fully enumerated (all ``2**G`` sign vectors) when that is no
    more than ``n_boot``; the original sample is then one of the draws.
    """
    if kind not in get_args(Weights):
        raise ValueError(f"weights must be one of {get_args(Weights)}, got {kind!r}")
    if kind == "rademacher" and 2**n_clusters <= n_boot:
        v = np.array(list(itertools.product([-1.0, 1.0], repeat=n_clusters)))
        return v, True
    if kind == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=(n_boot, n_clusters)), False
    if kind == "webb":
        six = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
        return rng.choice(six, size=(n_boot, n_clusters)), False
    s5 = np.sqrt(5.0)
    vals = np.array([-(s5 - 1) / 2, (s5 + 1) / 2])
    p = np.array([(s5 + 1) / (2 * s5), (s5 - 1) / (2 * s5)])
    return rng.choice(vals, size=(n_boot, n_clusters), p=p), False


def _annihilate(fit: LinearFit, v: Floats) -> Floats:
    """Fixed-effect annihilator in the fit's (√w-transformed) space: √w · M_D^(w)(v / √w).

    Weighted least squares is OLS on √w-scaled data, so the wild bootstrap runs there;
    without weights this is the plain demeaning.
    """
    if fit.sqrt_w is None:
        out: Floats = fit.absorber.demean(v)
        return out
    sw = fit.sqrt_w[:, None] if v.ndim == 2 else fit.sqrt_w
    out = sw * fit.absorber.demean(v / sw)
    return out


class _Pieces:
    """G-vectors and G×G matrices of the fast algorithm, for residuals ``r0 - b0 * r1``."""

    def __init__(
        self, res: LinearResults, j: int, clusters: NDArray[np.int64], impose_null: bool
    ) -> None:
        fit = res.fit
        assert fit is not None
        x = fit.x
        n, k = x.shape
        g = int(clusters.max()) + 1
        self.n_clusters = g
        m_xx = fit.bread
        y = x @ res.params.to_numpy() + fit.resid
        a = (m_xx @ x.T)[j]  # row j of (X'X)^-1 X'
        ind = np.zeros((n, g))
        ind[np.arange(n), clusters] = 1.0
        a_mat = ind * a[:, None]  # a_i in column g(i)
        if impose_null:
            others = np.delete(x, j, axis=1)
            if others.shape[1]:
                proj = (
                    others @ np.linalg.lstsq(others, np.column_stack([y, x[:, j]]), rcond=None)[0]
                )
                r0 = y - proj[:, 0]
                r1 = x[:, j] - proj[:, 1]
            else:
                r0, r1 = y.copy(), x[:, j].copy()
        else:
            r0, r1 = fit.resid.copy(), np.zeros(n)
        c = a_mat.T @ x  # G × k
        self.s: list[Floats] = []
        self.h: list[Floats] = []
        for r in (r0, r1):
            self.s.append(a_mat.T @ r)
            spread = ind * r[:, None]
            q = a_mat.T @ _annihilate(fit, spread)
            w = ind.T @ (x * r[:, None])  # G × k
            self.h.append(q - c @ m_xx @ w.T)
        k_fe = fit.k_fe
        self.ssc = g / (g - 1) * (n - 1) / (n - k - k_fe)
        self.beta = float(res.params.iloc[j])
        meat = np.sum((a_mat.T @ fit.resid) ** 2)
        self.se = float(np.sqrt(self.ssc * meat))


#: How a bootstrap statistic equal to the sample's counts in a p-value.
TIES = ("include", "exclude")


def share_as_extreme(boot: Floats, observed: float, ties: str = "include") -> float:
    r"""Share of bootstrap statistics at least as extreme as the observed one.

    ``ties="include"`` counts :math:`|t^*| \ge |t|` (the exact-test convention: the WCR
    draw whose weights are all 1 reproduces the sample, so an enumerated p-value is never
    0); ``"exclude"`` counts :math:`|t^*| > |t|`. With full Rademacher enumeration the
    two differ by the two sign-symmetric draws that reproduce :math:`\pm t` (and by any
    other exact tie). Equality is judged to a relative :math:`10^{-12}`, so rounding does
    not decide a tie; R ``fwildclusterboot`` and ``wildboottest`` compare strictly with no
    tolerance, so in their enumerated p-values rounding decides whether those two draws
    count (one or the other convention, case by case). ``boot`` and ``observed`` are
    compared as given (pass absolute values for a two-sided test).
    References: MacKinnon, Nielsen and Webb (2023), "Cluster-robust inference: a guide to
    empirical practice", *Journal of Econometrics* 232(2), section on the WCR bootstrap.
    """
    return count_as_extreme(boot, observed, ties) / len(boot)


def count_as_extreme(boot: Floats, observed: float, ties: str = "include") -> int:
    """Count the statistics at least as extreme as ``observed`` (see :func:`share_as_extreme`)."""
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    if ties == "include":
        return int(np.sum(boot >= observed * (1 - 1e-12)))
    return int(np.sum(boot > observed * (1 + 1e-12)))


def wild_cluster_bootstrap(
    res: LinearResults,
    term: str,
    *,
    cluster: str | None = None,
    n_boot: int = 9999,
    weights: str = "webb",
    impose_null: bool = True,
    seed: int = 0,
    alpha: float = 0.05,
    null: float = 0.0,
    conf_int: bool = True,
    ties: str = "include",
) -> LinearResults:
    """Wild cluster bootstrap p-value and confidence interval for one coefficient.

    Parameters
    ----------
    res : LinearResults
        A fitted linear model (TWFE, 2x2 DiD, segmented regression...).
    term : str
        The coefficient tested.
    cluster : str, optional
        Cluster column (default: the fit's).
    n_boot : int
        Number of draws (Rademacher weights are fully enumerated when ``2**G <= n_boot``).
    weights : {"webb", "rademacher", "mammen"}
        Distribution of the cluster weights.
    impose_null : bool
        WCR (True, recommended) or WCU (False).
    seed : int
        Seed of the weights.
    alpha : float
        Level of the confidence interval.
    null : float
        Value of the coefficient under the null for the p-value.
    conf_int : bool
        Compute the interval by test inversion (WCR; WCU uses percentile-t).
    ties : {"include", "exclude"}
        Whether draws exactly as extreme as the sample count (:func:`share_as_extreme`):
        "include" (default, the exact-test convention) or "exclude" (strictly more extreme).

    Returns
    -------
    LinearResults
        A new results object whose ``tidy()`` row for ``term`` carries the bootstrap p-value
        and interval (``info["wild"]`` has the details); other terms keep their inference.
    """
    if res.fit is None or res.source is None or res.rows is None:
        raise ValueError("these results keep no fit to bootstrap")
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    if term not in res.params.index:
        raise ValueError(f"unknown term {term!r}; terms: {list(res.params.index)}")
    col = cluster or res.info.get("cluster")
    if col is None:
        raise ValueError("the wild cluster bootstrap needs a cluster variable")
    clusters = codes_of(res.source[col].iloc[res.rows])
    j = list(res.params.index).index(term)
    pieces = _Pieces(res, j, clusters, impose_null)
    g = pieces.n_clusters
    rng = np.random.default_rng(seed)
    v, enumerated = draw_weights(weights, n_boot, g, rng)
    vs = [v @ s for s in pieces.s]  # B
    vh = [v @ h.T for h in pieces.h]  # B × G

    def t_boot(b0: float) -> tuple[Floats, float]:
        if impose_null:
            num = vs[0] - b0 * vs[1]
            z = vh[0] - b0 * vh[1]
        else:
            num, z = vs[0], vh[0]
        den = np.sqrt(pieces.ssc * np.sum(z**2, axis=1))
        t0 = (pieces.beta - b0) / pieces.se
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / den, t0

    def pvalue(b0: float) -> float:
        tb, t0 = t_boot(b0)
        return share_as_extreme(np.abs(tb), float(np.abs(t0)), ties)

    p = pvalue(null)
    lo = hi = np.nan
    if conf_int:
        if impose_null:
            lo, hi = _invert(pvalue, pieces.beta, pieces.se, alpha)
        else:
            tb, _ = t_boot(0.0)
            crit = float(np.quantile(np.abs(tb), 1 - alpha))
            lo, hi = pieces.beta - crit * pieces.se, pieces.beta + crit * pieces.se
    kind = "WCR" if impose_null else "WCU"
    label = f"wild cluster bootstrap ({kind}, {weights}, {len(v)} draws{', enumerated' if enumerated else ''}) by {col}"
    info = dict(res.info)
    wild = dict(info.get("wild", {}))
    wild[term] = {
        "p_value": p,
        "ci_lower": lo,
        "ci_upper": hi,
        "t_stat": (pieces.beta - null) / pieces.se,
        "n_boot": len(v),
        "enumerated": enumerated,
        "weights": weights,
        "impose_null": impose_null,
        "n_clusters": g,
        "seed": seed,
    }
    info["wild"] = wild
    overrides = dict(res.overrides)
    overrides[term] = {"p_value": p, "ci_lower": lo, "ci_upper": hi, "inference": label}
    return replace(res, info=info, overrides=overrides)


@dataclass(frozen=True)
class WildWaldTest:
    """A joint wild cluster bootstrap Wald test of several coefficients.

    Attributes
    ----------
    terms : tuple of str
        The coefficients tested jointly.
    null : tuple of float
        Their values under the null.
    statistic : float
        The cluster-robust (CR1) Wald statistic of the sample.
    p_value : float
        Share of bootstrap Wald statistics at least as large.
    p_value_asymptotic : float
        The :math:`F(q, G-1)` p-value of ``statistic / q`` for comparison.
    """

    terms: tuple[str, ...]
    null: tuple[float, ...]
    statistic: float
    p_value: float
    p_value_asymptotic: float
    n_boot: int
    enumerated: bool
    weights: str
    impose_null: bool
    n_clusters: int
    bootstrap_statistics: Floats = field(repr=False)

    def tidy(self) -> pd.DataFrame:
        """One row: ``test, statistic, df, p_value, p_value_asymptotic, inference``."""
        kind = "WCR" if self.impose_null else "WCU"
        return pd.DataFrame(
            {
                "test": [
                    " & ".join(f"{t} = {v:g}" for t, v in zip(self.terms, self.null, strict=True))
                ],
                "statistic": [self.statistic],
                "df": [len(self.terms)],
                "p_value": [self.p_value],
                "p_value_asymptotic": [self.p_value_asymptotic],
                "inference": [
                    f"wild cluster bootstrap Wald ({kind}, {self.weights}, {self.n_boot} draws"
                    f"{', enumerated' if self.enumerated else ''}; {self.n_clusters} clusters)"
                ],
            }
        )


def wild_wald_test(
    res: LinearResults,
    terms: Sequence[str],
    *,
    null: Sequence[float] | None = None,
    cluster: str | None = None,
    n_boot: int = 9999,
    weights: str = "webb",
    impose_null: bool = True,
    seed: int = 0,
    ties: str = "include",
) -> WildWaldTest:
    r"""Joint wild cluster bootstrap test of :math:`H_0: \beta_J = r` for several coefficients.

    The statistic is the CR1 Wald statistic :math:`W = (\hat\beta_J - r)'\hat V_J^{-1}
    (\hat\beta_J - r)`. Each draw multiplies the cluster blocks of the residuals
    (restricted under :math:`H_0` for WCR) by the weights, and recomputes :math:`W^*`
    with its own CR1 covariance; the p-value is the share of :math:`W^* \ge W` (or of
    :math:`W^* > W` with ``ties="exclude"``, see :func:`share_as_extreme`). As in
    :func:`wild_cluster_bootstrap`, a draw costs :math:`O(qG^2)` whatever the number of
    observations. Typical use: the pre-trend coefficients of an event study.

    References
    ----------
    Roodman, D., MacKinnon, J. G., Nielsen, M. Ø. and Webb, M. D. (2019). Fast and wild:
    bootstrap inference in Stata using boottest. *The Stata Journal* 19(1).
    """
    if res.fit is None or res.source is None or res.rows is None:
        raise ValueError("these results keep no fit to bootstrap")
    unknown = [t for t in terms if t not in res.params.index]
    if unknown or not terms:
        raise ValueError(f"unknown or no terms {unknown}; terms: {list(res.params.index)}")
    if len(set(terms)) != len(terms):
        raise ValueError("terms must be distinct")
    r = np.zeros(len(terms)) if null is None else np.asarray(null, dtype=float)
    if r.shape != (len(terms),):
        raise ValueError("null must have one value per term")
    col = cluster or res.info.get("cluster")
    if col is None:
        raise ValueError("the wild cluster bootstrap needs a cluster variable")
    fit = res.fit
    clusters = codes_of(res.source[col].iloc[res.rows])
    idx = [list(res.params.index).index(t) for t in terms]
    x = fit.x
    n, k = x.shape
    g = int(clusters.max()) + 1
    q = len(idx)
    y = x @ res.params.to_numpy() + fit.resid
    if impose_null:
        y_r = y - x[:, idx] @ r
        others = np.delete(x, idx, axis=1)
        resid = (
            y_r - others @ np.linalg.lstsq(others, y_r, rcond=None)[0] if others.shape[1] else y_r
        )
    else:
        resid = fit.resid.copy()
    ind = np.zeros((n, g))
    ind[np.arange(n), clusters] = 1.0
    a = (fit.bread @ x.T)[idx]  # q × n
    spread = _annihilate(fit, ind * resid[:, None])  # n × G
    w = ind.T @ (x * resid[:, None])  # G × k
    s = np.empty((q, g))
    h = np.empty((q, g, g))
    for m, row in enumerate(a):
        a_mat = ind * row[:, None]
        s[m] = a_mat.T @ resid
        h[m] = a_mat.T @ spread - (a_mat.T @ x) @ fit.bread @ w.T
    ssc = g / (g - 1) * (n - 1) / (n - k - fit.k_fe)
    rng = np.random.default_rng(seed)
    v, enumerated = draw_weights(weights, n_boot, g, rng)
    num = v @ s.T  # B × q: bootstrap beta_J minus its centre
    z = np.einsum("bg,qhg->bqh", v, h)  # B × q × G cluster scores
    vb = ssc * np.einsum("bqh,brh->bqr", z, z)
    # num is beta*_J minus the null (WCR) or minus the estimate (WCU): the draws' centre.
    sol = np.linalg.solve(vb, num[:, :, None])[:, :, 0]
    w_boot = np.einsum("bq,bq->b", num, sol)
    beta_j = res.params.to_numpy()[idx] - r
    scores = ind.T @ (a.T * fit.resid[:, None])  # G × q
    v_hat = ssc * scores.T @ scores
    w0 = float(beta_j @ np.linalg.solve(v_hat, beta_j))
    p = share_as_extreme(w_boot, w0, ties)

    return WildWaldTest(
        terms=tuple(terms),
        null=tuple(float(t) for t in r),
        statistic=w0,
        p_value=p,
        p_value_asymptotic=float(stats.f.sf(w0 / q, q, g - 1)),
        n_boot=len(v),
        enumerated=enumerated,
        weights=weights,
        impose_null=impose_null,
        n_clusters=g,
        bootstrap_statistics=w_boot,
    )


def wild_romano_wolf(
    results: Mapping[str, LinearResults],
    term: str,
    *,
    cluster: str | None = None,
    n_boot: int = 9999,
    weights: str = "webb",
    seed: int = 0,
) -> pd.DataFrame:
    """Romano–Wolf adjusted p-values for one term across several models (e.g. measures).

    Every model is bootstrapped (WCR) with the *same* cluster weights, matched by cluster
    label, so the draws keep the dependence between the models' statistics; the
    step-down of :func:`~soteria_eval.inference.multiplicity.romano_wolf` then adjusts
    the p-values.

    Returns
    -------
    pandas.DataFrame
        ``model, estimate, t_stat, p_value, p_value_romano_wolf, n_boot``.
    """
    from soteria_eval.inference.multiplicity import romano_wolf

    if not results:
        raise ValueError("give at least one model")
    labels: dict[str, pd.Series] = {}
    for name, res in results.items():
        if res.source is None or res.rows is None or res.fit is None:
            raise ValueError(f"model {name!r} keeps no fit to bootstrap")
        col = cluster or res.info.get("cluster")
        if col is None:
            raise ValueError(f"model {name!r} has no cluster variable")
        labels[name] = res.source[col].iloc[res.rows].reset_index(drop=True)
    # Cluster labels in sorted order, as codes_of numbers them in each model.
    universe = pd.Index(pd.concat(list(labels.values()), ignore_index=True).unique()).sort_values()
    rng = np.random.default_rng(seed)
    v, _ = draw_weights(weights, n_boot, len(universe), rng)
    t_obs, t_null, rows = [], [], []
    for name, res in results.items():
        lab = labels[name]
        cols = universe.get_indexer(pd.Index(lab.unique()).sort_values())
        j = list(res.params.index).index(term)
        pieces = _Pieces(res, j, codes_of(lab), True)
        vv = v[:, cols]
        num = vv @ pieces.s[0]
        den = np.sqrt(pieces.ssc * np.sum((vv @ pieces.h[0].T) ** 2, axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            tb = num / den
        t0 = pieces.beta / pieces.se
        t_obs.append(t0)
        t_null.append(tb)
        rows.append((name, pieces.beta, t0, float(np.mean(np.abs(tb) >= abs(t0) * (1 - 1e-12)))))
    adj = romano_wolf(np.array(t_obs), np.column_stack(t_null))
    out = pd.DataFrame(rows, columns=["model", "estimate", "t_stat", "p_value"])
    out["p_value_romano_wolf"] = adj
    out["n_boot"] = len(v)
    return out


def _invert(
    pvalue: Callable[[float], float], beta: float, se: float, alpha: float
) -> tuple[float, float]:
    """Bisection for the two points where the bootstrap p-value crosses ``alpha``."""

    def edge(direction: float) -> float:
        inside, step = beta, se
        outside = beta + direction * step
        n = 0
        while pvalue(outside) > alpha and n < 60:
            inside = outside
            step *= 2
            outside = beta + direction * step
            n += 1
        for _ in range(60):
            mid = (inside + outside) / 2
            if pvalue(mid) > alpha:
                inside = mid
            else:
                outside = mid
            if abs(outside - inside) < 1e-8 * max(se, 1e-12):
                break
        return (inside + outside) / 2

    return edge(-1.0), edge(1.0)


__all__ = [
    "WildWaldTest",
    "draw_weights",
    "wild_cluster_bootstrap",
    "wild_romano_wolf",
    "wild_wald_test",
]
