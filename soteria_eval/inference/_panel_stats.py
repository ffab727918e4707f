r"""TWFE statistics of many simulated balanced panels at once (power and coverage studies).

For a balanced panel without covariates, the TWFE estimate of the treatment coefficient
is linear in the outcomes: with :math:`\tilde D` and :math:`\tilde y` two-way demeaned,
:math:`\hat\beta = \sum \tilde D\tilde y / \sum \tilde D^2`. Cluster-robust, wild bootstrap
and randomization statistics then reduce to small per-cluster vectors and matrices, so a
whole Monte Carlo chunk (``sims × units × periods``) is handled by array algebra. Every
function is checked against the package's estimators in the tests.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import signal

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


def simulate_ar1_panels(
    unit_sd: Floats,
    phi: float,
    treatment: Floats,
    effect: float,
    n_sims: int,
    rng: np.random.Generator,
) -> Floats:
    r"""Draw ``n_sims`` panels ``effect * D + u`` (``sims × units × periods``).

    :math:`u_{it} = \phi u_{i,t-1} + \varepsilon_{it}` with stationary start and unit
    standard deviation ``unit_sd`` (the innovations have sd :math:`s_i\sqrt{1-\phi^2}`).
    """
    n, t = treatment.shape
    eps = rng.standard_normal((n_sims, n, t)) * (unit_sd * math.sqrt(1 - phi**2))[None, :, None]
    eps[:, :, 0] /= math.sqrt(1 - phi**2)
    u = signal.lfilter([1.0], [1.0, -phi], eps, axis=2)
    out: Floats = u + effect * treatment[None]
    return out


def demean2(y: Floats) -> Floats:
    """Two-way demean over the last two axes (units, periods)."""
    out: Floats = (
        y
        - y.mean(axis=-1, keepdims=True)
        - y.mean(axis=-2, keepdims=True)
        + y.mean(axis=(-1, -2), keepdims=True)
    )
    return out


def small_sample(n_units: int, n_periods: int, n_clusters: int) -> float:
    """CR1 factor of a TWFE fit, fixed effects counted in full: G/(G-1)·(N-1)/(N-K)."""
    n = n_units * n_periods
    return n_clusters / (n_clusters - 1) * (n - 1) / (n - 1 - (n_units + n_periods - 1))


def by_cluster(values: Floats, clusters: Ints, n_clusters: int) -> Floats:
    """Sum the last axis (units) within clusters."""
    ind = np.zeros((len(clusters), n_clusters))
    ind[np.arange(len(clusters)), clusters] = 1.0
    out: Floats = values @ ind
    return out


def twfe_cr1(
    y: Floats, d: Floats, clusters: Ints, n_clusters: int
) -> tuple[Floats, Floats, Floats]:
    """Estimate, CR1 standard error and residuals of every replication (``y``: S × N × T)."""
    den = float((d**2).sum())
    yt = demean2(y)
    beta = np.einsum("it,sit->s", d, yt) / den
    resid = yt - beta[:, None, None] * d[None]
    g = by_cluster(np.einsum("it,sit->si", d, resid), clusters, n_clusters)
    ssc = small_sample(d.shape[0], d.shape[1], n_clusters)
    return beta, np.sqrt(ssc * (g**2).sum(axis=1)) / den, resid


def wild_pvalues(
    y: Floats, d: Floats, clusters: Ints, n_clusters: int, v: Floats, impose_null: bool
) -> Floats:
    r"""Wild cluster bootstrap p-values (H0: beta = 0) of every replication, all draws at once.

    Residuals :math:`r` are restricted (the two-way demeaned outcome, WCR) or unrestricted
    (WCU). A draw multiplies cluster :math:`c`'s residuals by :math:`v_c`; its estimate
    minus the centre is :math:`v'Q/\sum\tilde D^2` with :math:`Q_c = \sum_{i \in c}\sum_t
    \tilde D_{it} r_{it}`, and its cluster scores are :math:`v \circ Q - \tilde M v / N -
    (\beta^* - \text{centre}) R` with :math:`\tilde M_{cc'} = \sum_{i\in c, j \in c'}\sum_t
    \tilde D_{it} r_{jt}` and :math:`R_c = \sum_{i \in c}\sum_t \tilde D_{it}^2`.
    """
    den = float((d**2).sum())
    n = d.shape[0]
    ssc = small_sample(d.shape[0], d.shape[1], n_clusters)
    beta0, se0, resid = twfe_cr1(y, d, clusters, n_clusters)
    r = demean2(y) if impose_null else resid
    ind = np.zeros((n, n_clusters))
    ind[np.arange(n), clusters] = 1.0
    q = np.einsum("it,sit->si", d, r) @ ind  # S × G
    m = np.einsum("ic,it,sjt,jk->sck", ind, d, r, ind, optimize=True)  # S × G × G
    big_r = ((d**2).sum(axis=1)) @ ind
    b_star = q @ v.T / den  # S × B (minus the centre)
    g = v[None, :, :] * q[:, None, :] - np.einsum("bk,sck->sbc", v, m) / n
    g -= b_star[:, :, None] * big_r[None, None, :]
    se = np.sqrt(ssc * (g**2).sum(axis=2)) / den
    with np.errstate(invalid="ignore", divide="ignore"):
        t_star = np.abs(b_star / se)
    out: Floats = np.mean(t_star >= np.abs(beta0 / se0)[:, None] * (1 - 1e-12), axis=1)
    return out


def ri_path_pvalues(y: Floats, treat: Floats, assign: Ints) -> Floats:
    """Studentized RI p-values when units are the clusters; ``assign`` deals treatment paths.

    Row 0 of ``assign`` is the observed assignment (path code per unit, codes from
    ``numpy.unique(treat, axis=0)``).
    """
    paths, path_of = np.unique(treat, axis=0, return_inverse=True)
    n, t = treat.shape
    counts = np.bincount(path_of.ravel(), minlength=len(paths))
    col_mean = (counts[:, None] * paths).sum(axis=0) / n
    dt = paths - paths.mean(axis=1, keepdims=True) - col_mean[None, :] + col_mean.mean()
    r = (dt**2).sum(axis=1)
    den = float(counts @ r)
    ssc = small_sample(n, t, n)
    q = np.einsum("pt,sit->spi", dt, demean2(y))  # sims × paths × units
    qa = q[:, assign, np.arange(n)[None, :]]  # sims × assignments × units
    beta = qa.sum(axis=2) / den
    sc = qa - beta[:, :, None] * r[assign][None, :, :]
    se = np.sqrt(ssc * (sc**2).sum(axis=2)) / den
    with np.errstate(divide="ignore", invalid="ignore"):  # a reassignment with no variation
        tstat = np.abs(beta / se)
    out: Floats = np.mean(tstat >= tstat[:, :1] * (1 - 1e-12), axis=1)
    return out


def ri_block_pvalues(y: Floats, post: Floats, clusters: Ints, assign: NDArray[np.bool_]) -> Floats:
    r"""Studentized RI p-values for a block design with treatment assigned by cluster.

    ``assign`` (A × G, row 0 observed) marks treated clusters; a unit is treated when its
    cluster is. With one start, :math:`\tilde D_{it} = (a_i - \bar a)(p_t - \bar p)`, so the
    estimate is :math:`\sum_i (a_i-\bar a) w_i / (\sum_i (a_i-\bar a)^2 P)` with
    :math:`w_i = \sum_t (p_t - \bar p)\tilde y_{it}` and :math:`P = \sum_t (p_t-\bar p)^2`.
    """
    n, t = len(clusters), len(post)
    g = int(clusters.max()) + 1
    pc = post - post.mean()
    big_p = float(pc @ pc)
    yt = demean2(y)
    w = np.einsum("t,sit->si", pc, yt)  # S × N
    a = assign[:, clusters].astype(float)  # A × N
    ac = a - a.mean(axis=1, keepdims=True)
    den = (ac**2).sum(axis=1) * big_p  # A
    beta = (w @ ac.T) / den[None, :]  # S × A
    # Unit score: sum_t Dtilde_it e_it = ac_i (w_i - beta ac_i P)
    unit_scores = ac[None, :, :] * (w[:, None, :] - beta[:, :, None] * ac[None, :, :] * big_p)
    ind = np.zeros((n, g))
    ind[np.arange(n), clusters] = 1.0
    cl = unit_scores @ ind  # S × A × G
    ssc = small_sample(n, t, g)
    se = np.sqrt(ssc * (cl**2).sum(axis=2)) / den[None, :]
    tstat = np.abs(beta / se)
    out: Floats = np.mean(tstat >= tstat[:, :1] * (1 - 1e-12), axis=1)
    return out
