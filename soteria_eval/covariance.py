"""Covariance estimators for linear models with absorbed fixed effects.

A registry maps names to estimators; unknown names and options are rejected.

``iid``
    Classical: ``s² (X'X)⁻¹`` with ``s² = e'e / (N - K)``.
``HC1``
    White heteroskedasticity-robust with ``N / (N - K)``.
``CR0``, ``CR1``
    Cluster-robust (Liang and Zeger 1986): ``(X'X)⁻¹ (Σ_g X_g' e_g e_g' X_g) (X'X)⁻¹``,
    CR1 scaled by ``G/(G-1) · (N-1)/(N-K)`` as in Stata and R ``sandwich::vcovCL``
    (``type = "HC1"``). Inference uses t(G−1).
``CR2``
    Bias-reduced linearization (Bell and McCaffrey 2002; Pustejovsky and Tipton 2018):
    residuals of cluster g are premultiplied by ``A_g = (I - H_gg)^(-1/2)`` where ``H`` is
    the hat matrix of the full model *including* the fixed effects, and each coefficient's
    t test uses Satterthwaite degrees of freedom. Matches R ``clubSandwich::vcovCR``
    (``type = "CR2"``) with ``coef_test(test = "Satterthwaite")``.

``K`` counts every estimated parameter, fixed effects included (``fe_dof="full"``, alias
``"lm"``: R ``lm`` with dummies and ``sandwich::vcovCL(type = "HC1")``); ``fe_dof="nested"``
(alias ``"fixest"``) leaves out the levels of fixed effects nested in the cluster
variable but one per such fixed effect, as ``fixest`` does by default
(``ssc(adj = TRUE, fixef.K = "nested", cluster.adj = TRUE)`` with ``t(G - 1)`` tests:
``K = K_full - sum(levels_f - 1)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from soteria_eval._linalg import Absorber, FloatArray, IntArray
from soteria_eval._options import check_option

VcovType = Literal["iid", "HC1", "CR0", "CR1", "CR2"]
FeDof = Literal["full", "nested", "lm", "fixest"]
#: Aliases of ``fe_dof`` named after the software whose numbers they reproduce.
FE_DOF_ALIASES: Mapping[str, str] = {"lm": "full", "fixest": "nested"}


def canonical_fe_dof(fe_dof: str) -> str:
    """Check ``fe_dof`` and return ``"full"`` or ``"nested"`` (``"lm"``/``"fixest"`` map there)."""
    check_option("fe_dof", fe_dof, FeDof)
    return FE_DOF_ALIASES.get(fe_dof, fe_dof)


VCOV_TYPES: tuple[str, ...] = get_args(VcovType)


@dataclass(frozen=True)
class LinearFit:
    """What a covariance estimator needs from a fitted linear model.

    Attributes
    ----------
    x : array (N, k)
        Regressors after absorbing the fixed effects (and multiplying by √w).
    resid : array (N,)
        Residuals (times √w).
    bread : array (k, k)
        ``(X̃'X̃)⁻¹``.
    absorber : Absorber
        The fixed-effect structure (needed by CR2's hat matrix).
    sqrt_w : array or None
        Square roots of the weights.
    k_fe : int
        Degrees of freedom used by the fixed effects.
    fe_codes_nested : callable
        Given cluster codes, the number of fixed-effect dof nested in them.
    """

    x: FloatArray
    resid: FloatArray
    bread: FloatArray
    absorber: Absorber
    sqrt_w: FloatArray | None
    k_fe: int

    @property
    def nobs(self) -> int:
        """Number of observations."""
        return int(self.x.shape[0])

    def nested_fe_dof(self, clusters: IntArray) -> int:
        """Fixed-effect dof that ``fe_dof="nested"`` leaves out of ``K``.

        For each fixed effect whose levels are nested in the clusters, its levels minus
        one: ``fixest`` (``ssc(fixef.K = "nested")``) removes the nested levels but keeps
        one per fully nested fixed effect, ``K = K_full - sum(levels_f - 1)``.
        """
        return nested_levels(self.absorber.codes, clusters, self.k_fe)


def nested_levels(codes: Sequence[IntArray], clusters: IntArray, k_fe: int) -> int:
    """Levels of the fixed effects nested in the clusters, less one per such fixed effect.

    A fixed effect is nested when each of its levels sits in exactly one cluster. The sum
    is capped at ``k_fe``, the fixed-effect dof, so ``K`` never drops below the
    regressors. Used by ``fe_dof="nested"`` in the linear models and in PPML.
    """
    nested = 0
    for c in codes:
        n = int(c.max()) + 1
        if np.unique(np.stack([c, clusters]), axis=1).shape[1] == n:
            nested += n - 1
    return min(nested, k_fe)


@dataclass(frozen=True)
class Covariance:
    """A covariance matrix with the degrees of freedom of each coefficient's t test."""

    cov: FloatArray
    df: FloatArray  # per coefficient; inf means normal inference
    name: str
    description: str
    n_clusters: int | None = None


def _iid(fit: LinearFit, clusters: IntArray | None, fe_dof: FeDof) -> Covariance:
    n, k = fit.x.shape
    dof = n - k - fit.k_fe
    s2 = float(fit.resid @ fit.resid) / dof
    return Covariance(s2 * fit.bread, np.full(k, float(dof)), "iid", "classical (homoskedastic)")


def _hc1(fit: LinearFit, clusters: IntArray | None, fe_dof: FeDof) -> Covariance:
    n, k = fit.x.shape
    dof = n - k - fit.k_fe
    xe = fit.x * fit.resid[:, None]
    meat = xe.T @ xe
    cov = fit.bread @ meat @ fit.bread * (n / dof)
    return Covariance(cov, np.full(k, float(dof)), "HC1", "heteroskedasticity-robust (HC1)")


def _cluster_scores(fit: LinearFit, clusters: IntArray) -> FloatArray:
    g = int(clusters.max()) + 1
    xe = fit.x * fit.resid[:, None]
    scores = np.zeros((g, fit.x.shape[1]))
    np.add.at(scores, clusters, xe)
    return scores


def _require_clusters(clusters: IntArray | None, name: str) -> IntArray:
    if clusters is None:
        raise ValueError(f"{name} needs a cluster variable")
    g = np.unique(clusters).size
    if g < 2:
        raise ValueError(f"{name} needs at least 2 clusters, got {g}")
    return clusters


def _cr(fit: LinearFit, clusters: IntArray | None, fe_dof: FeDof, adjust: bool) -> Covariance:
    name = "CR1" if adjust else "CR0"
    cl = _require_clusters(clusters, name)
    n, k = fit.x.shape
    g = int(np.unique(cl).size)
    scores = _cluster_scores(fit, cl)
    cov = fit.bread @ (scores.T @ scores) @ fit.bread
    if adjust:
        k_fe = fit.k_fe - (fit.nested_fe_dof(cl) if fe_dof == "nested" else 0)
        cov = cov * (g / (g - 1)) * ((n - 1) / (n - k - k_fe))
    return Covariance(
        cov, np.full(k, float(g - 1)), name, f"cluster-robust ({name}), t({g - 1})", g
    )


def _inv_sqrt_psd(blocks: FloatArray) -> FloatArray:
    """Symmetric inverse square root of a stack of symmetric PSD matrices (pseudo-inverse)."""
    vals, vecs = np.linalg.eigh(blocks)
    tol = vals.max(axis=-1, keepdims=True) * 1e-12
    inv = np.where(vals > tol, 1.0 / np.sqrt(np.where(vals > tol, vals, 1.0)), 0.0)
    return np.asarray((vecs * inv[..., None, :]) @ np.swapaxes(vecs, -1, -2))


def cr2_adjusted_design(fit: LinearFit, clusters: IntArray) -> tuple[FloatArray, FloatArray]:
    """Bell–McCaffrey adjusted regressors and Satterthwaite degrees of freedom.

    Returns ``(A X̃, df)``: rows ``A_g X̃_g`` stacked in the data's row order, with
    :math:`A_g = (I - H_{gg})^{-1/2}` from the hat matrix of the full model (fixed effects
    included), and one Satterthwaite df per coefficient. Both depend on the design only,
    so the CR2 score of any residual vector ``e`` is ``(A X̃)' e`` summed by cluster (as
    simulation studies use).
    """
    adj_x, _, df = _cr2_parts(fit, clusters)
    return adj_x, df


def _cr2_parts(fit: LinearFit, cl: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return ``A X̃``, ``A e`` and the Satterthwaite df (see :func:`_cr2`)."""
    if fit.sqrt_w is not None:
        raise ValueError(
            "cr2_adjusted_design is for unweighted fits; weighted CR2 comes from compute_vcov"
        )
    n, k = fit.x.shape

    order = np.argsort(cl, kind="stable")
    sizes = np.bincount(cl)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    m_xx = fit.bread
    # Hat matrix of the full model: H = P_D + X̃ (X̃'X̃)^-1 X̃'. Its diagonal blocks need
    # (M_D)_gg, the fixed-effect annihilator restricted to a cluster's rows.
    adj_x = np.zeros_like(fit.x)  # rows: A_g X̃_g
    adj_e = np.zeros(n)  # A_g e_g
    for size in np.unique(sizes[sizes > 0]):
        members = np.flatnonzero(sizes == size)
        rows = np.stack([order[starts[c] : starts[c] + size] for c in members])  # (m, size)
        flat = rows.ravel()
        e_cols = np.zeros((n, flat.size))
        e_cols[flat, np.arange(flat.size)] = 1.0
        md = fit.absorber.demean(e_cols)  # M_D applied to unit vectors
        md_blocks = np.stack(
            [md[rows[j]][:, j * size : (j + 1) * size] for j in range(len(members))]
        )
        xg = fit.x[rows]  # (m, size, k)
        h_blocks = (np.eye(size)[None] - md_blocks) + xg @ m_xx @ np.swapaxes(xg, 1, 2)
        a = _inv_sqrt_psd(np.eye(size)[None] - h_blocks)
        adj_x[flat] = (a @ xg).reshape(-1, k)
        adj_e[flat] = (a @ fit.resid[rows][..., None]).reshape(-1)
    # Satterthwaite dof per coefficient: p_g = (I - H) z_g with z_g = A_g X̃_g M e_j on the
    # rows of cluster g; nu = (sum_g p_g'p_g)^2 / sum_{g,h} (p_g'p_h)^2.
    df = np.empty(k)
    for j in range(k):
        u = adj_x @ m_xx[:, j]  # stacked A_g X̃_g M e_j
        z = np.zeros((n, int(cl.max()) + 1))
        z[np.arange(n), cl] = u
        p = fit.absorber.demean(z)
        p -= fit.x @ (m_xx @ (fit.x.T @ p))
        gram = p.T @ p
        df[j] = np.trace(gram) ** 2 / np.sum(gram**2)
    return adj_x, adj_e, df


def _cr2_weighted(fit: LinearFit, cl: IntArray) -> tuple[FloatArray, FloatArray]:
    r"""CR2 for weighted least squares, as R ``clubSandwich`` does for ``lm`` with weights.

    The working model is homoskedastic in the original scale (clubSandwich's default
    target when weights are given), so with the oblique hat matrix
    :math:`P = U(U'WU)^{-1}U'W` (fixed effects included) the adjustment of cluster
    :math:`g` is :math:`A_g = G_g^{-1/2}`, :math:`G_g = [(I-P)(I-P)']_{gg}`; the score is
    :math:`\check X_g' W_g A_g e_g` (original-scale residuals) and the Satterthwaite df
    come from :math:`p_g = (I-P)'(A_g W_g \check X_g M c)` as in the unweighted case.
    Without weights this is the usual :math:`A_g = (I - H_{gg})^{-1/2}`.

    Returns the covariance and the df per coefficient.
    """
    assert fit.sqrt_w is not None
    n, k = fit.x.shape
    w = fit.sqrt_w**2
    x_chk = fit.x / fit.sqrt_w[:, None]  # weighted-demeaned X, original scale
    e = fit.resid / fit.sqrt_w
    m_xx = fit.bread

    def i_minus_p_t(u: FloatArray) -> FloatArray:
        # (I - P)'u = W M_D(W^-1 u) - W X̌ M X̌'u
        out: FloatArray = w[:, None] * (
            fit.absorber.demean(u / w[:, None]) - x_chk @ (m_xx @ (x_chk.T @ u))
        )
        return out

    g_max = int(cl.max()) + 1
    scores = np.zeros((g_max, k))
    z_cols = np.zeros((k, n, g_max))
    for c in np.unique(cl):
        rows = np.flatnonzero(cl == c)
        unit = np.zeros((n, rows.size))
        unit[rows, np.arange(rows.size)] = 1.0
        cmat = i_minus_p_t(unit)
        a = _inv_sqrt_psd((cmat.T @ cmat)[None])[0]
        xw = x_chk[rows] * w[rows][:, None]  # W_g X̌_g
        scores[c] = xw.T @ (a @ e[rows])
        z_cols[:, rows, c] = (a @ xw @ m_xx).T  # A_g W_g X̌_g M e_j, for every j
    cov = m_xx @ (scores.T @ scores) @ m_xx
    df = np.empty(k)
    for j in range(k):
        p = i_minus_p_t(z_cols[j])
        gram = p.T @ p
        df[j] = np.trace(gram) ** 2 / np.sum(gram**2)
    return cov, df


def _cr2(fit: LinearFit, clusters: IntArray | None, fe_dof: FeDof) -> Covariance:
    cl = _require_clusters(clusters, "CR2")
    if fit.sqrt_w is not None:
        cov_w, df_w = _cr2_weighted(fit, cl)
        g = int((np.bincount(cl) > 0).sum())
        return Covariance(
            cov_w, df_w, "CR2", "cluster-robust (CR2, Bell–McCaffrey), Satterthwaite df", g
        )
    adj_x, adj_e, df = _cr2_parts(fit, cl)
    del adj_x
    k = fit.x.shape[1]
    g = int((np.bincount(cl) > 0).sum())
    scores = np.zeros((int(cl.max()) + 1, k))
    np.add.at(scores, cl, fit.x * adj_e[:, None])
    cov = fit.bread @ (scores.T @ scores) @ fit.bread
    return Covariance(cov, df, "CR2", "cluster-robust (CR2, Bell–McCaffrey), Satterthwaite df", g)


_REGISTRY: Mapping[str, Callable[[LinearFit, IntArray | None, FeDof], Covariance]] = {
    "iid": _iid,
    "HC1": _hc1,
    "CR0": lambda f, c, d: _cr(f, c, d, adjust=False),
    "CR1": lambda f, c, d: _cr(f, c, d, adjust=True),
    "CR2": _cr2,
}


def compute_vcov(
    fit: LinearFit,
    vcov: str,
    clusters: IntArray | None = None,
    fe_dof: str = "full",
) -> Covariance:
    """Compute a named covariance estimator (see the module docstring)."""
    check_option("vcov", vcov, VcovType)
    return _REGISTRY[vcov](fit, clusters, canonical_fe_dof(fe_dof))  # type: ignore[arg-type]
