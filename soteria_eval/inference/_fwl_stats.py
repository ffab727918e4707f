r"""TWFE statistics of one panel with missing cells, by dense Frisch–Waugh–Lovell algebra.

The recovery study fits the same two-way fixed-effects model to many measures whose
panels have gaps (a quarter with no case, a log of zero, periods left out by an
anticipation window), so the balanced shortcuts of :mod:`._panel_stats` do not apply.
With :math:`n` observed cells (a thousand at most here) the fixed-effect projection is
small enough to form densely: with :math:`Q` an orthonormal basis of the unit and period
indicators on the observed cells, :math:`M = I - QQ'`, :math:`\tilde X = MX` and

.. math::

   \hat\beta = (\tilde X'\tilde X)^{-1}\tilde X' y, \qquad
   e = My - \tilde X\hat\beta, \qquad
   H = QQ' + \tilde X(\tilde X'\tilde X)^{-1}\tilde X'.

CR1 uses :math:`G/(G-1)\cdot(n-1)/(n-k-k_{FE})` with :math:`k_{FE}` the rank of the
indicators, as :func:`soteria_eval.did.twfe` does by default; CR2 the Bell–McCaffrey
adjustment :math:`A_g = (I - H_{gg})^{-1/2}` with Satterthwaite degrees of freedom
(Pustejovsky and Tipton 2018); the restricted wild cluster bootstrap the score algebra of
Roodman, MacKinnon, Nielsen and Webb (2019): with restricted residuals :math:`r`, a draw
:math:`v` gives :math:`\hat\beta^* - \beta_0 = v'q/\tilde x'\tilde x` with
:math:`q_g = \tilde x_g' r_g`, and cluster scores :math:`Cv - (\hat\beta^*-\beta_0)R`
with :math:`C_{gh} = \tilde x_g'(M r^{(h)})_g` and :math:`R_g = \tilde x_g'\tilde x_g`.
Equal to the package's estimators on the same data (tests check it).

References
----------
Pustejovsky, J. E. and Tipton, E. (2018). Small-sample methods for cluster-robust
variance estimation and hypothesis testing in fixed effects models. *Journal of Business
& Economic Statistics* 36(4), 672–683.

Roodman, D., MacKinnon, J. G., Nielsen, M. Ø. and Webb, M. D. (2019). Fast and wild:
bootstrap inference in Stata using boottest. *The Stata Journal* 19(1), 4–60.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


def _inv_sqrt_psd(blocks: Floats) -> Floats:
    vals, vecs = np.linalg.eigh(blocks)
    tol = vals.max(axis=-1, keepdims=True) * 1e-12
    inv = np.where(vals > tol, 1.0 / np.sqrt(np.where(vals > tol, vals, 1.0)), 0.0)
    return np.asarray((vecs * inv[..., None, :]) @ np.swapaxes(vecs, -1, -2))


@lru_cache(maxsize=32)
def _fe_basis(shape: tuple[int, ...], mask: bytes) -> tuple[Ints, Floats]:
    """Cluster codes and an orthonormal basis of the unit and period dummies of a mask.

    Cached by the mask of observed cells: the designs of a study fit many treatment
    columns, samples and inferences to panels with the same cells.
    """
    obs = np.frombuffer(mask, dtype=bool).reshape(shape)
    unit, period = np.nonzero(obs)
    _, cl = np.unique(unit, return_inverse=True)
    _, pc = np.unique(period, return_inverse=True)
    cl = cl.astype(np.int64)
    n = len(cl)
    g = int(cl.max()) + 1
    n_t = int(pc.max()) + 1
    f = np.zeros((n, g + n_t))
    f[np.arange(n), cl] = 1.0
    f[np.arange(n), g + pc] = 1.0
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    k_fe = int((s > s[0] * 1e-10).sum())
    q = np.ascontiguousarray(u[:, :k_fe])
    cl.flags.writeable = False
    q.flags.writeable = False
    return cl, q


@dataclass(frozen=True)
class MaskedTwfe:
    """A TWFE fit on the observed cells of a units × periods panel, clustered by unit.

    Attributes
    ----------
    beta : ndarray
        Coefficients of the treatment columns.
    se_cr1, se_cr2 : ndarray
        CR1 and CR2 standard errors.
    df_cr1 : float
        Degrees of freedom of CR1 (clusters minus one).
    df_cr2 : ndarray
        Satterthwaite degrees of freedom of CR2, per coefficient.
    n_clusters : int
        Units with at least one observed cell.
    """

    beta: Floats
    se_cr1: Floats
    se_cr2: Floats
    df_cr1: float
    df_cr2: Floats
    n_clusters: int
    # the fit's parts, for the wild bootstrap
    q: Floats
    raw: Floats
    xt: Floats
    y: Floats
    cl: Ints
    ssc: float

    def wild_pvalue(self, null: float, v: Floats) -> float:
        r"""Restricted wild cluster bootstrap p-value of ``beta[0] = null`` (``v``: B × G).

        The t statistic is CR1-studentised; a draw counts when
        :math:`|t^*| \ge |t|` (ties included, as :mod:`soteria_eval.inference.wild`).
        """
        x = self.xt[:, 0]
        den = float(x @ x)
        g = self.n_clusters
        # restricted model: the fixed effects only, outcome y - null * x (x before M)
        r = self.y - null * self.raw[:, 0]
        r = r - self.q @ (self.q.T @ r)
        ind = np.zeros((len(self.cl), g))
        ind[np.arange(len(self.cl)), self.cl] = 1.0
        rb = ind * r[:, None]  # n × G: r^{(h)}
        mrb = rb - self.q @ (self.q.T @ rb)
        c = (ind * x[:, None]).T @ mrb  # G × G
        big_r = ind.T @ (x * x)
        qv = ind.T @ (x * r)
        b_star = v @ qv / den  # B
        scores = v @ c.T - b_star[:, None] * big_r[None, :]
        se = np.sqrt(self.ssc * (scores**2).sum(axis=1)) / den
        t_obs = abs((self.beta[0] - null) / self.se_cr1[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            t_star = np.abs(b_star / se)
        return float(np.mean(t_star >= t_obs * (1 - 1e-12)))


def masked_twfe(y: Floats, x: Floats, *, cr2: bool = True) -> MaskedTwfe:
    """Fit TWFE to the observed cells of ``y`` (units × periods, NaN where missing).

    ``x`` holds the treatment columns (k × units × periods). Units with no observed cell
    and periods with none drop out, as they do from :func:`soteria_eval.did.twfe`.
    """
    obs = np.isfinite(y)
    cl, q = _fe_basis(obs.shape, obs.tobytes())
    n = len(cl)
    g = int(cl.max()) + 1
    k_fe = q.shape[1]
    yo = y[obs]
    raw = x[:, obs].T  # n × k
    k = raw.shape[1]
    xt = raw - q @ (q.T @ raw)
    bread = np.linalg.inv(xt.T @ xt)
    beta = bread @ (xt.T @ yo)
    e = yo - q @ (q.T @ yo) - xt @ beta
    ssc = g / (g - 1) * (n - 1) / (n - k - k_fe)
    ind = np.zeros((n, g))
    ind[np.arange(n), cl] = 1.0
    sc = ind.T @ (xt * e[:, None])  # G × k
    v1 = ssc * bread @ (sc.T @ sc) @ bread
    se2 = np.full(k, np.nan)
    df2 = np.full(k, np.nan)
    if cr2:
        adj = np.zeros_like(xt)  # rows A_g x̃_g
        adj_e = np.zeros(n)
        sizes = np.bincount(cl, minlength=g)
        order = np.argsort(cl, kind="stable")
        starts = np.concatenate([[0], np.cumsum(sizes)])
        for size in np.unique(sizes):
            members = np.flatnonzero(sizes == size)
            rows = starts[members][:, None] + np.arange(size)[None, :]
            rows = order[rows]
            qg = q[rows]  # m × size × k_fe
            xg = xt[rows]  # m × size × k
            h = qg @ np.swapaxes(qg, 1, 2) + xg @ bread @ np.swapaxes(xg, 1, 2)
            a = _inv_sqrt_psd(np.eye(size)[None] - h)
            adj[rows.ravel()] = (a @ xg).reshape(-1, k)
            adj_e[rows.ravel()] = (a @ e[rows][..., None]).reshape(-1)
        sc2 = ind.T @ (xt * adj_e[:, None])
        v2 = bread @ (sc2.T @ sc2) @ bread
        se2 = np.sqrt(np.diag(v2))
        for j in range(k):
            z = ind * (adj @ bread[:, j])[:, None]  # n × G
            p = z - q @ (q.T @ z) - xt @ (bread @ (xt.T @ z))
            gram = p.T @ p
            df2[j] = np.trace(gram) ** 2 / np.sum(gram**2)
    out = MaskedTwfe(
        beta=beta, se_cr1=np.sqrt(np.diag(v1)), se_cr2=se2, df_cr1=float(g - 1), df_cr2=df2,
        n_clusters=g, q=q, raw=raw, xt=xt, y=yo, cl=cl, ssc=ssc,
    )  # fmt: skip
    return out
