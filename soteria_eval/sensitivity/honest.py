r"""Sensitivity of event-study conclusions to violations of parallel trends (HonestDiD).

Rambachan and Roth (2023) write the event-study coefficients as
:math:`\beta = (\delta_{pre},\ \tau_{post} + \delta_{post})`, where :math:`\delta` is the
difference in trends that parallel trends sets to zero, and bound how far :math:`\delta`
may depart from what the pre-period shows:

* **relative magnitudes**, :math:`\Delta^{RM}(\bar M)`: no post-period change in
  :math:`\delta` between consecutive periods is larger than :math:`\bar M` times the
  largest pre-period one;
* **smoothness**, :math:`\Delta^{SD}(M)`: the slope of :math:`\delta` changes by at most
  :math:`M` between consecutive periods (:math:`M = 0`: a linear pre-trend continues).

For a target :math:`\theta = l'\tau_{post}` (by default the first post-period effect) the
confidence set collects the :math:`\theta` not rejected by the conditional moment-
inequality test of Andrews, Roth and Pakes (2023): with :math:`Y = A\hat\beta - d` and the
nuisance post-period effects :math:`\gamma`,

.. math:: \hat\eta = \min_{\eta, \gamma}\ \eta \quad \text{s.t.}\quad
          Y(\theta) - X\gamma \le \eta\, \sigma_Y,

and :math:`\hat\eta` is compared with a normal quantile truncated to the interval in which
the optimal dual vertex :math:`\tilde\lambda` stays optimal. ``method="c-lf"`` is the
hybrid that first rejects when :math:`\hat\eta` exceeds the least-favourable critical
value at level :math:`\kappa = \alpha/10` (the HonestDiD default for relative
magnitudes). :math:`\Delta^{RM}` is a union over which pre-period change is the largest
and its sign; the confidence set is the union of the sets for each.

Computation: the truncation interval is found exactly, by walking the dual vertices of the
parametric linear programme (each step a HiGHS LP); the least-favourable critical value
simulates :math:`\hat\eta` for 1,000 normal draws, all at once by enumerating the dual
vertices when there are few, otherwise one LP per draw.

References
----------
Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends.
*Review of Economic Studies* 90(5).
Andrews, I., Roth, J. and Pakes, A. (2023). Inference for linear conditional moment
inequalities. *Review of Economic Studies* 90(6).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, stats

from soteria_eval._options import check_option

Floats = NDArray[np.float64]
Restriction = Literal["relative_magnitude", "smoothness"]
HonestMethod = Literal["conditional", "c-lf", "flci"]

#: Most dual-vertex candidates enumerated at once; larger problems solve one LP per draw.
MAX_ENUMERATED = 200_000


# --- Restriction sets A delta <= d (columns: pre-periods then post-periods) -------------


def smoothness_constraints(num_pre: int, num_post: int, m: float) -> tuple[Floats, Floats]:
    r"""Return ``A, d`` of :math:`\Delta^{SD}(M)`: :math:`|\delta_{t+1} - 2\delta_t + \delta_{t-1}| \le M`.

    :math:`\delta_0 = 0` (the reference period) is part of the differences and then
    dropped as a column.
    """
    total = num_pre + num_post
    a = np.zeros((total - 1, total + 1))
    for r in range(total - 1):
        a[r, r : r + 3] = (1.0, -2.0, 1.0)
    a = np.delete(a, num_pre, axis=1)
    a = np.vstack([a, -a])
    return a, np.full(len(a), float(m))


def relative_magnitude_constraints(
    num_pre: int, num_post: int, mbar: float, s: int, positive: bool
) -> tuple[Floats, Floats]:
    r"""Return ``A, d`` of :math:`\Delta^{RM}_{s,\pm}(\bar M)`.

    The pre-period change at :math:`s` (:math:`\delta_s - \delta_{s-1}`, with
    :math:`s \in \{-T_{pre}+1, \dots, 0\}`) is the largest in absolute value (with sign
    ``positive``); every pre-period change is at most it, every post-period change at most
    :math:`\bar M` times it.
    """
    total = num_pre + num_post
    diffs = np.zeros((total, total + 1))
    for r in range(total):
        diffs[r, r : r + 2] = (-1.0, 1.0)
    top = np.zeros(total + 1)
    top[num_pre + s - 1 : num_pre + s + 1] = (-1.0, 1.0)
    if not positive:
        top = -top
    bound = np.vstack([np.tile(top, (num_pre, 1)), np.tile(mbar * top, (num_post, 1))])
    a = np.vstack([diffs - bound, -diffs - bound])
    a = a[np.sum(a**2, axis=1) > 1e-10]
    a = np.delete(a, num_pre, axis=1)
    return a, np.zeros(len(a))


# --- The ARP conditional test ------------------------------------------------------------


def _eta_lp(y: Floats, x: Floats, sd: Floats) -> tuple[float, Floats | None]:
    """``min eta s.t. y - x g <= eta sd``; returns ``eta`` and the dual ``lambda``."""
    m, k = x.shape
    if k == 0:
        j = int(np.argmax(y / sd))
        lam = np.zeros(m)
        lam[j] = 1.0 / sd[j]
        return float(y[j] / sd[j]), lam
    res = optimize.linprog(
        c=np.r_[1.0, np.zeros(k)],
        A_ub=np.column_stack([-sd, -x]),
        b_ub=-y,
        bounds=[(None, None)] * (k + 1),
        method="highs",
    )
    if res.status == 3:  # unbounded below: the moments can all be made slack
        return -math.inf, None
    if res.status != 0:
        raise RuntimeError(f"the moment-inequality LP failed: {res.message}")
    return float(res.x[0]), -np.asarray(res.ineqlin.marginals, dtype=float)


def _truncation(
    y: Floats, x: Floats, sd: Floats, sigma: Floats, lam: Floats, eta: float
) -> tuple[float, float]:
    r"""Interval of :math:`c` over which :math:`\tilde\lambda` stays the optimal dual vertex.

    With :math:`b = \Sigma\tilde\lambda / \tilde\lambda'\Sigma\tilde\lambda` and
    :math:`S = Y - b\,\tilde\lambda'Y`, the LP value :math:`\eta(c)` of :math:`S + bc` is
    convex and piecewise linear, equal to :math:`\tilde\lambda'S + c` on the interval.
    Each end is found by intersecting that line with the vertex optimal beyond it, until
    the intersection is itself on the line.
    """
    var = float(lam @ sigma @ lam)
    b = sigma @ lam / var
    s_vec = y - b * float(lam @ y)
    base = float(lam @ s_vec)
    scale = max(1.0, abs(eta), math.sqrt(var))
    tol = 1e-7 * scale

    def end(direction: float) -> float:
        start = eta + direction * max(100.0, 20 * math.sqrt(var) + abs(eta))
        c = start
        for _ in range(200):
            val, other = _eta_lp(s_vec + b * c, x, sd)
            if other is None:
                return direction * math.inf
            if val <= base + c + tol:  # the vertex is still optimal here
                return direction * math.inf if c == start else c
            denom = 1.0 - float(other @ b)
            if abs(denom) < 1e-14:
                return c
            c = (float(other @ s_vec) - base) / denom
        return c

    return end(-1.0), end(1.0)


@functools.lru_cache(maxsize=64)
def _subsets(m: int, r: int) -> NDArray[np.int64]:
    """All ``r``-subsets of ``range(m)`` as rows (cached: the grid reuses them)."""
    out = np.array(list(itertools.combinations(range(m), r)), dtype=np.int64)
    out.setflags(write=False)
    return out


def _dual_vertices(x: Floats, sd: Floats) -> Floats | None:
    """All vertices of ``{lambda >= 0 : sd'lambda = 1, x'lambda = 0}`` (rows), if few.

    Since ``sd > 0``, they are the extreme rays of the cone ``{lambda >= 0 : x'lambda = 0}``
    scaled to ``sd'lambda = 1``; the rays depend on ``x`` only, so they are enumerated once
    per ``x`` (:func:`_cone_rays`) and reused for every ``sd`` (every outcome and seed).
    """
    m, k = x.shape
    if math.comb(m, k + 1) > MAX_ENUMERATED:
        return None
    rays = _cone_rays(np.ascontiguousarray(x, dtype=float).tobytes(), m, k)
    out: Floats = rays / (rays @ sd)[:, None]
    return out


@functools.lru_cache(maxsize=32)
def _cone_rays(x_bytes: bytes, m: int, k: int) -> Floats:
    """Return the extreme rays of ``{lambda >= 0 : x'lambda = 0}`` (rows, unit length, each once).

    A ray is supported on ``k + 1`` rows at most: for each ``(k+1)``-subset whose rows of
    ``x`` have rank ``k``, the null vector of their transpose is a ray when its entries
    share one sign.
    """
    x = np.frombuffer(x_bytes, dtype=float).reshape(m, k)
    sets = _subsets(m, k + 1)
    xs = x[sets].transpose(0, 2, 1)  # (n, k, k+1)
    if k == 0:
        null = np.ones((len(sets), 1))
        full = np.ones(len(sets), dtype=bool)
    else:
        _, s, vt = np.linalg.svd(xs, full_matrices=True)
        null = vt[:, -1, :]  # (n, k+1)
        full = s[:, -1] > 1e-10 * np.maximum(s[:, 0], 1e-300)
    pos: NDArray[np.bool_] = np.asarray((null >= -1e-12).all(axis=1))
    neg: NDArray[np.bool_] = np.asarray((null <= 1e-12).all(axis=1))
    keep = full & (pos | neg)
    sign = np.where(pos[keep], 1.0, -1.0)
    rays = np.zeros((int(keep.sum()), m))
    rows = np.arange(len(rays))[:, None]
    rays[rows, sets[keep]] = np.maximum(sign[:, None] * null[keep], 0.0)
    # A ray supported on fewer than k + 1 rows is found once per subset containing its
    # support: keep one copy (unit length; the relaxation's vertices do not depend on order).
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    _, first = np.unique(np.round(rays, 10), axis=0, return_index=True)
    out: Floats = rays[np.sort(first)]
    out.setflags(write=False)
    return out


def least_favorable_cv(
    x: Floats,
    sigma: Floats,
    kappa: float,
    *,
    sims: int = 1000,
    seed: int = 0,
    vertices: Floats | None = None,
) -> float:
    r"""Return the :math:`1-\kappa` quantile of :math:`\hat\eta` when every moment binds.

    The moments are drawn as ``Y ~ N(0, sigma)`` (``sims`` draws, seeded). ``vertices``
    are the dual vertices of ``(x, sd)`` when the caller has them already.
    """
    sd = np.sqrt(np.diag(sigma))
    draws = np.random.default_rng(seed).multivariate_normal(np.zeros(len(sd)), sigma, size=sims)
    verts = vertices if vertices is not None else _dual_vertices(x, sd)
    if verts is not None:
        if len(verts) == 0:
            return math.inf
        eta = (draws @ verts.T).max(axis=1)
    else:
        eta = np.array([_eta_lp(dr, x, sd)[0] for dr in draws])
    return float(np.quantile(eta, 1 - kappa))


def arp_test(
    y: Floats,
    x: Floats,
    sigma: Floats,
    *,
    alpha: float = 0.05,
    lf_cv: float | None = None,
    kappa: float = 0.0,
) -> bool:
    r"""Reject :math:`E[Y - X\gamma] \le 0` for some :math:`\gamma`? (ARP conditional test).

    Parameters
    ----------
    y : array, shape (m,)
        Estimated moments.
    x : array, shape (m, k)
        Nuisance directions (``k = 0`` for none).
    sigma : array, shape (m, m)
        Covariance of ``y``.
    lf_cv, kappa : float, optional
        Least-favourable hybrid: reject outright when :math:`\hat\eta > lf\_cv`, otherwise
        run the conditional test at level :math:`(\alpha-\kappa)/(1-\kappa)` with the
        truncation capped at ``lf_cv``.
    """
    sd = np.sqrt(np.diag(sigma))
    eta, lam = _eta_lp(y, x, sd)
    if lam is None or not np.isfinite(eta):
        return False
    size = alpha
    if lf_cv is not None:
        if eta > lf_cv:
            return True
        size = (alpha - kappa) / (1 - kappa)
    var = float(lam @ sigma @ lam)
    if var <= np.finfo(float).eps:
        return eta > 0
    lo, hi = _truncation(y, x, sd, sigma, lam, eta)
    if lf_cv is not None:
        hi = min(hi, lf_cv)
    sb = math.sqrt(var)
    z, zlo, zhi = eta / sb, lo / sb, hi / sb
    if not zlo - 1e-9 <= z <= zhi + 1e-9:
        return False
    if zlo >= zhi:
        return bool(z > max(0.0, zlo))
    crit = (
        float(stats.truncnorm.ppf(1 - size, zlo, zhi))
        if np.isfinite(zlo) or np.isfinite(zhi)
        else float(stats.norm.ppf(1 - size))
    )
    return bool(z > max(0.0, crit))


# --- Confidence sets ---------------------------------------------------------------------


def _basis(l_vec: Floats) -> Floats:
    """Inverse of an invertible matrix whose first row is ``l'``: column 0 maps theta to tau."""
    q, _ = np.linalg.qr(np.column_stack([l_vec, np.eye(len(l_vec))]))
    null = q[:, 1 : len(l_vec)]
    return np.column_stack([l_vec / float(l_vec @ l_vec), null])


def _accept_grid(
    betahat: Floats,
    sigma: Floats,
    a: Floats,
    d: Floats,
    num_pre: int,
    l_vec: Floats,
    grid: Floats,
    rows: NDArray[np.int64],
    alpha: float,
    hybrid: bool,
    kappa: float,
    seed: int,
) -> NDArray[np.bool_]:
    """Whether each grid value of theta is accepted for one restriction set."""
    ginv = _basis(l_vec)
    a_post = a[:, num_pre:] @ ginv
    y_all = a @ betahat - d
    sig_all = a @ sigma @ a.T
    y0, slope, x = y_all[rows], a_post[rows, 0], a_post[rows, 1:]
    sig = sig_all[np.ix_(rows, rows)]
    verts = _dual_vertices(x, np.sqrt(np.diag(sig)))
    lf = least_favorable_cv(x, sig, kappa, seed=seed, vertices=verts) if hybrid else None
    if verts is not None:
        return _accept_grid_vertices(verts, y0, slope, sig, grid, alpha, lf, kappa)
    return np.array(
        [not arp_test(y0 - slope * th, x, sig, alpha=alpha, lf_cv=lf, kappa=kappa) for th in grid]
    )


def _accept_grid_vertices(
    verts: Floats,
    y0: Floats,
    slope: Floats,
    sig: Floats,
    grid: Floats,
    alpha: float,
    lf_cv: float | None,
    kappa: float,
) -> NDArray[np.bool_]:
    r""":func:`arp_test` at every grid value at once, from the enumerated dual vertices.

    With :math:`\tilde\lambda` the optimal vertex, :math:`\tilde\lambda'S = 0`, so vertex
    :math:`v` bounds the interval by :math:`\lambda_v'S / (1 - \lambda_v'b)` (below when the
    denominator is positive, above when negative).
    """
    if len(verts) == 0:
        return np.ones(len(grid), dtype=bool)
    vals = (verts @ y0)[:, None] - (verts @ slope)[:, None] * grid[None, :]  # V × G
    best = np.argmax(vals, axis=0)
    eta = vals[best, np.arange(len(grid))]
    lam = verts[best]  # G × m
    var = np.einsum("gi,ij,gj->g", lam, sig, lam)
    b = (lam @ sig) / var[:, None]  # G × m
    y = y0[None, :] - grid[:, None] * slope[None, :]
    s_mat = y - b * eta[:, None]
    num = verts @ s_mat.T  # V × G
    den = 1.0 - verts @ b.T
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
    lo = np.where(den > 1e-12, ratio, -np.inf).max(axis=0)
    hi = np.where(den < -1e-12, ratio, np.inf).min(axis=0)
    size = alpha
    first = np.zeros(len(grid), dtype=bool)
    if lf_cv is not None:
        first = eta > lf_cv
        hi = np.minimum(hi, lf_cv)
        size = (alpha - kappa) / (1 - kappa)
    sb = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z, zlo, zhi = eta / sb, lo / sb, hi / sb
    inside = (zlo - 1e-9 <= z) & (z <= zhi + 1e-9)
    crit = np.full(len(grid), np.inf)
    ok = inside & (zlo < zhi)
    crit[ok] = stats.truncnorm.ppf(1 - size, zlo[ok], zhi[ok])
    flat = inside & (zlo >= zhi)
    crit[flat] = zlo[flat]
    reject = first | (inside & (z > np.maximum(0.0, crit)))
    degenerate = var <= np.finfo(float).eps
    reject[degenerate] = first[degenerate] | (eta[degenerate] > 0)
    accept: NDArray[np.bool_] = ~reject
    return accept


def _post_rows(a: Floats, num_pre: int) -> NDArray[np.int64]:
    return np.flatnonzero(np.any(a[:, num_pre:] != 0, axis=1)).astype(np.int64)


def _identified_bounds(
    a: Floats, d: Floats, num_pre: int, num_post: int, l_vec: Floats, beta: Floats
) -> tuple[float, float]:
    """Return the identified set of theta at a known beta (two LPs, pre-period fixed)."""
    total = num_pre + num_post
    f = np.r_[np.zeros(num_pre), l_vec]
    eq = np.hstack([np.eye(num_pre), np.zeros((num_pre, num_post))])
    bounds = [(None, None)] * total
    hi = optimize.linprog(
        -f, A_ub=a, b_ub=d, A_eq=eq, b_eq=beta[:num_pre], bounds=bounds, method="highs"
    )
    lo = optimize.linprog(
        f, A_ub=a, b_ub=d, A_eq=eq, b_eq=beta[:num_pre], bounds=bounds, method="highs"
    )
    centre = float(l_vec @ beta[num_pre:])
    return (
        centre - (-hi.fun if hi.status == 0 else 0.0),
        centre - (lo.fun if lo.status == 0 else 0.0),
    )


@dataclass(frozen=True, repr=False)
class HonestResults:
    """Robust confidence sets over a grid of restriction sizes.

    Attributes
    ----------
    table : pandas.DataFrame
        ``restriction, m, lb, ub, method, alpha`` (one row per ``m``; ``lb``/``ub`` are
        the smallest and largest accepted grid values) and ``original`` rows with the
        conventional interval.
    """

    table: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def tidy(self) -> pd.DataFrame:
        """Return the table."""
        return self.table.copy()

    def breakdown(self) -> float:
        """Smallest ``m`` whose robust set includes zero.

        ``nan`` if none does, or if the original interval already includes zero (there is
        then no significant result to break down).
        """
        orig = self.table[self.table["restriction"] == "original"]
        if len(orig) and float(orig["lb"].iloc[0]) <= 0 <= float(orig["ub"].iloc[0]):
            return float("nan")
        t = self.table[self.table["restriction"] != "original"]
        hit = t[(t["lb"] <= 0) & (t["ub"] >= 0)]
        return float(hit["m"].min()) if len(hit) else float("nan")

    def __repr__(self) -> str:
        from soteria_eval.results import short_repr

        t = self.table[self.table["restriction"] != "original"]
        kinds = ", ".join(sorted({str(r) for r in t["restriction"]}))
        return short_repr(
            self,
            [
                f"HonestDiD robust sets ({kinds})",
                f"{len(t)} values of m",
                f"breakdown m = {self.breakdown():.3g}",
            ],
        )

    def plot(self, *, title: str = "") -> Any:
        """Robust intervals against ``m``, with the original interval first."""
        from soteria_eval.plotting import honest_plot

        return honest_plot(self, title=title)


def _t_scaled(sigma: Floats, alpha: float, df: float | None) -> Floats:
    r"""Scale a covariance so that normal critical values give :math:`t_{df}` intervals.

    :math:`\Sigma \cdot (t_{df,1-\alpha/2} / z_{1-\alpha/2})^2`: the conventional interval
    becomes the design's own :math:`\hat\theta \pm t_{df}\,se`, and the robust sets widen
    in proportion (a small-sample adjustment for few treated clusters; HonestDiD itself
    uses the normal reference).
    """
    if df is None:
        return sigma
    if not (np.isfinite(df) and df >= 1):
        raise ValueError(f"df must be a number of at least 1, got {df!r}")
    ratio = float(stats.t.ppf(1 - alpha / 2, df) / stats.norm.ppf(1 - alpha / 2))
    scaled: Floats = sigma * ratio**2
    return scaled


def _accepted(
    b: Floats,
    sig: Floats,
    *,
    num_pre: int,
    num_post: int,
    restriction: str,
    m: float,
    lv: Floats,
    grid: Floats,
    alpha: float,
    hybrid: bool,
    kappa: float,
    post_period_moments_only: bool,
    seed: int,
) -> NDArray[np.bool_]:
    """Whether each value of ``grid`` is in the robust set at one ``m`` (ARP tests)."""
    if restriction == "smoothness":
        a, d = smoothness_constraints(num_pre, num_post, m)
        sets = [(a, d)]
    else:
        sets = [
            relative_magnitude_constraints(num_pre, num_post, m, s, pos)
            for s in range(-(num_pre - 1), 1)
            for pos in (True, False)
        ]
    accept = np.zeros(len(grid), dtype=bool)
    for a, d in sets:
        if num_post > 1:
            rows = _post_rows(a, num_pre) if post_period_moments_only else np.arange(len(a))
        elif restriction == "relative_magnitude" and post_period_moments_only:
            keep = np.flatnonzero(a[:, -1] != 0)
            a, d = a[keep], d[keep]
            rows = np.arange(len(a))
        else:
            rows = np.arange(len(a))
        accept |= _accept_grid(b, sig, a, d, num_pre, lv, grid, rows, alpha, hybrid, kappa, seed)
    return accept


def _inputs(
    betahat: Sequence[float] | Floats,
    sigma: Floats,
    num_pre: int,
    num_post: int,
    l_vec: Sequence[float] | Floats | None,
) -> tuple[Floats, Floats, Floats]:
    b = np.asarray(betahat, dtype=float)
    sig = np.asarray(sigma, dtype=float)
    if b.shape != (num_pre + num_post,) or sig.shape != (len(b), len(b)):
        raise ValueError(
            f"betahat must have num_pre + num_post = {num_pre + num_post} values and sigma "
            f"be square of that size; got {b.shape} and {sig.shape}"
        )
    if num_pre < 1 or num_post < 1:
        raise ValueError("need at least one pre-period and one post-period coefficient")
    if not np.allclose(sig, sig.T) or np.linalg.eigvalsh(sig).min() < -1e-12:
        raise ValueError("sigma must be a symmetric positive semi-definite matrix")
    lv = np.eye(num_post)[0] if l_vec is None else np.asarray(l_vec, dtype=float)
    if lv.shape != (num_post,) or not np.any(lv):
        raise ValueError(f"l_vec must have {num_post} values, not all zero")
    return b, sig, lv


def honest_sensitivity(
    betahat: Sequence[float] | Floats,
    sigma: Floats,
    *,
    num_pre: int,
    num_post: int,
    restriction: Restriction = "relative_magnitude",
    m_values: Sequence[float] = (0.5, 1.0, 1.5, 2.0),
    l_vec: Sequence[float] | None = None,
    method: HonestMethod = "c-lf",
    alpha: float = 0.05,
    df: float | None = None,
    grid_points: int = 1000,
    grid_lb: float | None = None,
    grid_ub: float | None = None,
    post_period_moments_only: bool = True,
    seed: int = 0,
) -> HonestResults:
    r"""Robust confidence sets for :math:`\theta = l'\tau_{post}` (see the module docstring).

    Parameters
    ----------
    betahat : array, shape (num_pre + num_post,)
        Event-study coefficients, pre-periods first (earliest first), the reference
        period (normalised to zero) excluded.
    sigma : array
        Their covariance.
    restriction : {"relative_magnitude", "smoothness"}
        :math:`\Delta^{RM}(\bar M)` or :math:`\Delta^{SD}(M)`.
    m_values : sequence of float
        :math:`\bar M` or :math:`M` values. Under relative magnitudes
        :math:`\bar M = 0` pins every post-period :math:`\delta` to zero, so
        :math:`\theta` is point-identified and its set is the conventional interval.
    l_vec : sequence of float, optional
        Weights on the post-period effects (default: the first post period).
    method : {"c-lf", "conditional", "flci"}
        Least-favourable hybrid (HonestDiD's default for relative magnitudes), the
        purely conditional test, or the optimal fixed-length interval of :func:`flci`
        (smoothness only; HonestDiD's default there).
    df : float, optional
        Degrees of freedom of the design's own reference distribution (for example the
        number of treated clusters minus one). ``sigma`` is scaled by
        :math:`(t_{df}/z)^2` (:func:`_t_scaled`), so the ``original`` row and the
        :math:`\bar M = 0` row equal the design's :math:`t_{df}` interval. Default: the
        normal reference, as HonestDiD.
    grid_points, grid_lb, grid_ub
        The grid of :math:`\theta` tested. Defaults as HonestDiD: relative magnitudes
        :math:`\pm 20\,sd(\hat\theta)` around zero; smoothness the identified set at
        :math:`\beta = 0` widened by :math:`20\,sd(\hat\theta)`.
    post_period_moments_only : bool
        Use only the moments involving post periods when there are nuisance parameters
        (HonestDiD's default).

    Returns
    -------
    HonestResults
    """
    check_option("restriction", restriction, Restriction)
    check_option("method", method, HonestMethod)
    b, sig, lv = _inputs(betahat, sigma, num_pre, num_post, l_vec)
    sig = _t_scaled(sig, alpha, df)
    if method == "flci" and restriction != "smoothness":
        raise ValueError("method='flci' is defined for restriction='smoothness' only")
    if any(not np.isfinite(m) or m < 0 for m in m_values):
        raise ValueError(f"m_values must be finite and non-negative, got {list(m_values)}")
    sd_theta = float(np.sqrt(lv @ sig[num_pre:, num_pre:] @ lv))
    kappa = alpha / 10
    hybrid = method == "c-lf"
    rows_out = []
    theta_hat = float(lv @ b[num_pre:])
    crit = stats.norm.ppf(1 - alpha / 2)
    conventional = (theta_hat - crit * sd_theta, theta_hat + crit * sd_theta)
    rows_out.append(("original", np.nan, *conventional, "normal" if df is None else f"t({df:g})"))
    for m in m_values:
        if method == "flci":
            lb, ub, _ = flci(b, sig, num_pre=num_pre, num_post=num_post, m=m, l_vec=lv, alpha=alpha)
            rows_out.append((restriction, float(m), lb, ub, method))
            continue
        if restriction == "relative_magnitude" and m == 0:
            rows_out.append((restriction, 0.0, *conventional, method))
            continue
        if restriction == "smoothness":
            a, d = smoothness_constraints(num_pre, num_post, m)
            lo_id, hi_id = _identified_bounds(a, d, num_pre, num_post, lv, np.zeros(len(b)))
        else:
            lo_id, hi_id = 0.0, 0.0
        glo = grid_lb if grid_lb is not None else lo_id - 20 * sd_theta
        ghi = grid_ub if grid_ub is not None else hi_id + 20 * sd_theta
        grid = np.linspace(glo, ghi, grid_points)
        accept = _accepted(
            b, sig, num_pre=num_pre, num_post=num_post, restriction=restriction, m=float(m),
            lv=lv, grid=grid, alpha=alpha, hybrid=hybrid, kappa=kappa,
            post_period_moments_only=post_period_moments_only, seed=seed,
        )  # fmt: skip
        if accept.any():
            lb, ub = float(grid[accept].min()), float(grid[accept].max())
        else:
            lb = ub = float("nan")
        rows_out.append((restriction, float(m), lb, ub, method))
    table = pd.DataFrame(rows_out, columns=["restriction", "m", "lb", "ub", "method"])
    table["alpha"] = alpha
    return HonestResults(
        table=table,
        settings={"num_pre": num_pre, "num_post": num_post, "l_vec": lv.tolist(),
                  "grid_points": grid_points, "seed": seed, "kappa": kappa, "df": df},
    )  # fmt: skip


def breakdown_value(
    betahat: Sequence[float] | Floats,
    sigma: Floats,
    *,
    num_pre: int,
    num_post: int,
    restriction: Restriction = "relative_magnitude",
    l_vec: Sequence[float] | Floats | None = None,
    alpha: float = 0.05,
    df: float | None = None,
    m_max: float | None = None,
    tol: float = 0.01,
    seed: int = 0,
) -> float:
    r"""Find the largest restriction size at which the robust set still excludes zero.

    Under relative magnitudes: the largest :math:`\bar M` such that zero is rejected
    when post-programme departures from parallel trends may be up to :math:`\bar M` times
    the largest pre-programme change (least-favourable hybrid test of :math:`\theta = 0`);
    under smoothness: the largest :math:`M` (outcome units per period squared) at which
    the fixed-length interval of :func:`flci` excludes zero. Found by bisection on the
    restriction size, testing only :math:`\theta = 0` (the sets grow with the size).

    Parameters
    ----------
    betahat, sigma, num_pre, num_post, l_vec, alpha, df
        As :func:`honest_sensitivity`.
    restriction : {"relative_magnitude", "smoothness"}
        Which restriction.
    m_max : float, optional
        Largest size searched (default 10 for :math:`\bar M`; for :math:`M`, 10 times the
        standard error of :math:`l'\hat\beta_{post}` per period squared).
    tol : float
        Bisection stops when the bracket is narrower than ``tol`` times ``m_max`` / 10.

    Returns
    -------
    float
        ``0`` when the set at size zero already includes zero (under relative magnitudes
        the conventional interval; under smoothness the interval that continues the
        pre-period's linear trend); ``inf`` when zero is still excluded at ``m_max``;
        otherwise the lower end of the final bracket (a size known to exclude zero).

    References
    ----------
    Rambachan, A. and Roth, J. (2023), section 5 ("breakdown values").
    """
    check_option("restriction", restriction, Restriction)
    b, sig, lv = _inputs(betahat, sigma, num_pre, num_post, l_vec)
    sig = _t_scaled(sig, alpha, df)
    sd_theta = float(np.sqrt(lv @ sig[num_pre:, num_pre:] @ lv))
    top = (
        m_max
        if m_max is not None
        else (10.0 if restriction == "relative_magnitude" else 10 * sd_theta)
    )
    zero = np.zeros(1)

    def excludes(m: float) -> bool:
        if restriction == "smoothness":
            lb, ub, _ = flci(b, sig, num_pre=num_pre, num_post=num_post, m=m, l_vec=lv, alpha=alpha)
            return not (lb <= 0.0 <= ub)
        if m == 0:
            return bool(abs(float(lv @ b[num_pre:])) > stats.norm.ppf(1 - alpha / 2) * sd_theta)
        return not bool(_accepted(
            b, sig, num_pre=num_pre, num_post=num_post, restriction=restriction, m=m, lv=lv,
            grid=zero, alpha=alpha, hybrid=True, kappa=alpha / 10,
            post_period_moments_only=True, seed=seed,
        )[0])  # fmt: skip

    if not excludes(0.0):
        return 0.0
    if excludes(top):
        return float("inf")
    lo, hi = 0.0, float(top)
    while hi - lo > tol * top / 10:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if excludes(mid) else (lo, mid)
    return lo


def event_study_inputs(
    results: Any, *, reference: int = -1, max_pre: int | None = None, max_post: int | None = None
) -> tuple[Floats, Floats, int, int]:
    """Pull ``betahat, sigma, num_pre, num_post`` from an event study's ``event ±k`` terms.

    Works with :func:`~soteria_eval.did.event_study` and a Callaway–Sant'Anna dynamic
    aggregation (use ``base_period="universal"``: HonestDiD needs one common reference
    period). The reference period's term, if present, is dropped.
    """
    terms = [str(t) for t in results.params.index if str(t).startswith("event ")]
    if not terms:
        raise ValueError("these results have no 'event ±k' terms")
    e = np.array([int(t.split(" ")[1]) for t in terms])
    keep = e != reference
    if max_pre is not None:
        keep &= e >= reference - max_pre
    if max_post is not None:
        keep &= e <= max_post
    order = np.argsort(e[keep])
    chosen = [t for t, k in zip(terms, keep, strict=True) if k]
    chosen = [chosen[i] for i in order]
    ev = np.sort(e[keep])
    num_pre = int((ev < reference).sum())
    num_post = int((ev > reference).sum())
    b = results.params.loc[chosen].to_numpy(dtype=float)
    v = results.cov.loc[chosen, chosen].to_numpy(dtype=float)
    return b, v, num_pre, num_post


__all__ = [
    "HonestResults",
    "arp_test",
    "breakdown_value",
    "event_study_inputs",
    "flci",
    "honest_sensitivity",
    "least_favorable_cv",
    "relative_magnitude_constraints",
    "smoothness_constraints",
]


# --- Fixed-length confidence intervals for smoothness restrictions ----------------------


def _smoothness_basis(num_pre: int, num_post: int) -> tuple[Floats, Floats]:
    r"""Write any :math:`\delta` (reference period zero) as a linear trend plus second differences.

    Returns ``(trend, K)``: :math:`\delta = c \cdot trend + K s` with :math:`s` the second
    differences, so an affine estimator :math:`v'\hat\beta` has bounded bias over
    :math:`\Delta^{SD}(M)` iff :math:`v'trend = 0`, and then its worst-case bias is
    :math:`M\lVert K'v\rVert_1`.
    """
    total = num_pre + num_post
    a, _ = smoothness_constraints(num_pre, num_post, 0.0)
    a = a[: total - 1]  # the second differences (without their negatives)
    # Unknowns: delta at the non-reference periods. Equations: the second differences,
    # plus the slope just after the reference period (delta_1 - delta_0 = delta_1).
    slope = np.zeros(total)
    slope[num_pre] = 1.0
    system = np.vstack([a, slope])
    inv = np.linalg.inv(system)
    return inv[:, -1], inv[:, :-1]


def _folded_normal_cv(bias: float, alpha: float) -> float:
    """Return the ``1 - alpha`` quantile of ``|N(bias, 1)|``."""
    from scipy.optimize import brentq

    b = abs(bias)
    target = 1 - alpha
    hi = b + stats.norm.ppf(1 - alpha / 2) + 1.0
    return float(
        brentq(
            lambda c: stats.norm.cdf(c - b) - stats.norm.cdf(-c - b) - target, 0.0, hi, xtol=1e-14
        )
    )


def flci(
    betahat: Sequence[float] | Floats,
    sigma: Floats,
    *,
    num_pre: int,
    num_post: int,
    m: float,
    l_vec: Sequence[float] | Floats | None = None,
    alpha: float = 0.05,
) -> tuple[float, float, Floats]:
    r"""Optimal fixed-length confidence interval under :math:`\Delta^{SD}(M)`.

    Among affine estimators :math:`v'\hat\beta` with :math:`v_{post} = l` whose bias is
    bounded over :math:`\Delta^{SD}(M)` (they remove any linear trend), choose the one
    with the shortest interval :math:`v'\hat\beta \pm \sigma_v\,
    cv_\alpha(\bar b_v/\sigma_v)`, where :math:`\bar b_v = M\lVert K'v\rVert_1` is the
    worst-case bias and :math:`cv_\alpha(b)` the :math:`1-\alpha` quantile of
    :math:`|N(b,1)|` (Armstrong and Kolesár 2018; HonestDiD's default for smoothness).
    The frontier :math:`\bar b(h) = \min\{\bar b_v : \sigma_v \le h\}` is traced exactly
    (SLSQP on the smooth reformulation) and the half-length minimised over :math:`h` by
    bounded scalar search; HonestDiD uses a 100-point grid in :math:`h` and a simulated
    quantile, so the two agree to about three digits.

    Returns
    -------
    lb, ub, v
    """
    b = np.asarray(betahat, dtype=float)
    sig = np.asarray(sigma, dtype=float)
    lv = np.eye(num_post)[0] if l_vec is None else np.asarray(l_vec, dtype=float)
    trend, kmat = _smoothness_basis(num_pre, num_post)
    # v = (v_pre, l); the trend constraint fixes one direction of v_pre.
    t_pre, t_post = trend[:num_pre], trend[num_pre:]
    v0 = np.zeros(num_pre)
    v0_rhs = -float(t_post @ lv)
    v0 = t_pre * v0_rhs / float(t_pre @ t_pre)
    q, _ = np.linalg.qr(np.column_stack([t_pre, np.eye(num_pre)]))
    null = q[:, 1:num_pre]

    def v_of(z: Floats) -> Floats:
        return np.concatenate([v0 + null @ z, lv])

    s_pp, s_pq = sig[:num_pre, :num_pre], sig[:num_pre, num_pre:]
    dim = null.shape[1]

    def var(z: Floats) -> float:
        v = v_of(z)
        return float(v @ sig @ v)

    # Minimum-variance estimator (closed form in z).
    if dim:
        hq = null.T @ s_pp @ null
        rhs = -(null.T @ (s_pp @ v0 + s_pq @ lv))
        z_min = np.linalg.solve(hq, rhs)
    else:
        z_min = np.zeros(0)
    kt = kmat.T  # rows: second differences

    def min_bias(h: float, start: Floats) -> tuple[float, Floats]:
        if dim == 0:
            return float(np.abs(kt @ v_of(start)).sum()), start
        n_s = kt.shape[0]
        x0 = np.concatenate([start, np.abs(kt @ v_of(start)) + 1e-9])
        cons = [
            {"type": "ineq", "fun": lambda x: x[dim:] - kt @ v_of(x[:dim]),
             "jac": lambda x: np.hstack([-(kt[:, :num_pre] @ null), np.eye(n_s)])},
            {"type": "ineq", "fun": lambda x: x[dim:] + kt @ v_of(x[:dim]),
             "jac": lambda x: np.hstack([kt[:, :num_pre] @ null, np.eye(n_s)])},
            {"type": "ineq", "fun": lambda x: h**2 - var(x[:dim]),
             "jac": lambda x: np.concatenate([-2 * (null.T @ (sig[:num_pre] @ v_of(x[:dim]))), np.zeros(n_s)])},
        ]  # fmt: skip
        res = optimize.minimize(
            lambda x: float(x[dim:].sum()),
            x0,
            jac=lambda x: np.concatenate([np.zeros(dim), np.ones(n_s)]),
            constraints=cons,
            method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 1000},
        )
        z = np.asarray(res.x[:dim], dtype=float)
        return float(np.abs(kt @ v_of(z)).sum()), z

    h_min = float(np.sqrt(var(z_min)))
    if m == 0 or dim == 0:
        z_best = z_min
        bias = m * float(np.abs(kt @ v_of(z_best)).sum())
        half = h_min * _folded_normal_cv(bias / h_min, alpha)
    else:
        # Smallest attainable bias (an LP), and the sd of that estimator: the frontier's end.
        n_s = kt.shape[0]
        lp = optimize.linprog(
            np.concatenate([np.zeros(dim), np.ones(n_s)]),
            A_ub=np.block(
                [[kt[:, :num_pre] @ null, -np.eye(n_s)], [-(kt[:, :num_pre] @ null), -np.eye(n_s)]]
            ),
            b_ub=np.concatenate([-(kt @ v_of(np.zeros(dim))), kt @ v_of(np.zeros(dim))]),
            bounds=[(None, None)] * dim + [(0, None)] * n_s,
            method="highs",
        )
        z_lp = np.asarray(lp.x[:dim], dtype=float)
        h_max = max(float(np.sqrt(var(z_lp))), h_min * (1 + 1e-9))
        cache: dict[float, tuple[float, Floats]] = {}

        def half_length(h: float) -> float:
            start = cache[max(cache)][1] if cache else z_min
            bias_h, z = min_bias(h, start)
            cache[h] = (bias_h, z)
            return h * _folded_normal_cv(m * bias_h / h, alpha)

        opt = optimize.minimize_scalar(
            half_length, bounds=(h_min, h_max), method="bounded", options={"xatol": 1e-10 * h_max}
        )
        ends = [
            (half_length(h_min * (1 + 1e-12)), h_min * (1 + 1e-12)),
            (half_length(h_max), h_max),
            (float(opt.fun), float(opt.x)),
        ]
        half, h_best = min(ends)
        z_best = cache[h_best][1]
    v = v_of(z_best)
    centre = float(v @ b)
    return centre - half, centre + half, v
