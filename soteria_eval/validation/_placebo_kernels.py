r"""Batched statistics of many fake rollouts on one real balanced panel.

A placebo study fits the same outcome panel :math:`Y` (units × periods) with thousands
of fake treatment arrays :math:`D_b` and, per draw, a sample of units (a mask
:math:`m_b`: every unit, or every unit but the forces exposed to the fake programme).
On a balanced sample two-way demeaning is closed form,
:math:`\tilde a_{it} = a_{it} - \bar a_{i\cdot} - \bar a^{(b)}_{\cdot t} + \bar a^{(b)}_{\cdot\cdot}`
(period and grand means over the draw's units), so every draw's TWFE statistics are sums
over a ``draws × units × periods`` array:

* **CR1**: :math:`\hat\beta = \sum\tilde D\tilde y/\sum\tilde D^2`, unit scores
  :math:`s_i = \sum_t \tilde D_{it} e_{it}`,
  :math:`\widehat{V} = c\,\sum_i s_i^2/(\sum\tilde D^2)^2` with
  :math:`c = G/(G-1)\cdot(n-1)/(n-1-(G+T-1))`, t on :math:`G-1` degrees of freedom
  (as :func:`soteria_eval.did.twfe`).
* **CR2** (Bell–McCaffrey; Pustejovsky and Tipton 2018): for unit :math:`i`,
  :math:`I - H_{ii} = (1 - 1/G)(I - J/T) - \tilde x_i\tilde x_i'/\sum\tilde D^2`, and
  :math:`\tilde x_i` is its eigenvector, so
  :math:`A_i\tilde x_i = \lambda_i\tilde x_i` with
  :math:`\lambda_i = (1 - 1/G - \tilde x_i'\tilde x_i/\sum\tilde D^2)^{-1/2}`; the
  Satterthwaite degrees of freedom come from the :math:`G\times G` matrix
  :math:`\Omega = \operatorname{diag}(\lambda_i^2 s_{ii}) - \Lambda\tilde X\tilde X'\Lambda/G
  - (\lambda s)(\lambda s)'/\sum\tilde D^2` (:math:`s_{ii} = \tilde x_i'\tilde x_i`),
  :math:`\nu = (\operatorname{tr}\Omega)^2/\|\Omega\|_F^2`.
* **WCR** (Roodman et al. 2019): restricted residuals :math:`r = \tilde y`,
  :math:`q_i = \tilde x_i' r_i`, :math:`M_{ij} = \tilde x_i' r_j`; a weight vector
  :math:`v` gives :math:`\beta^* = v'q/\sum\tilde D^2` and scores
  :math:`v_i q_i - (Mv)_i/G - \beta^*\,s_{ii}`.
* **RI**: a permutation of the sample's treatment paths over its units keeps every
  period mean, so the demeaned rows are permuted with it; with :math:`Q_{pi}` the product
  of demeaned path :math:`p` and :math:`\tilde y_i`, a permutation's estimate and scores
  are gathers of :math:`Q` (studentized by CR1, observed assignment included). Where the
  sample depends on the assignment (``exposed_dropped``), the paths are dealt to every
  unit and each assignment's sample is re-formed and refitted
  (:func:`reformed_ri_pvalues`).
* **Callaway–Sant'Anna, one cohort**: with a single start :math:`g` and never-treated
  controls, the simple aggregate is the 2×2 difference of
  :math:`z_i = \bar Y_{i,t\ge g} - Y_{i,g-1}` and its analytic standard error
  :math:`\sqrt{\hat\sigma^2_1/n_1 + \hat\sigma^2_0/n_0}` (variances with divisor
  :math:`n`; the aggregation weights do not vary with one cohort), normal reference.

* **Imputation with unit trends** (BJS 2024 with :math:`y_{it} = \alpha_i + \gamma_i t +
  \lambda_t` fitted on untreated cells): with :math:`X = [1, t]`, :math:`D_i` the
  diagonal of unit :math:`i`'s untreated periods, :math:`G_i = X'D_iX`,
  :math:`H_i = D_iX` and :math:`M_i = D_i - H_iG_i^{-1}H_i'`, the period effects solve the
  :math:`T\times T` system :math:`(\sum_i M_i)\lambda = \sum_i M_i y_i` (its null space, a
  common line, is absorbed by the unit trends), :math:`\theta_i = G_i^{-1}H_i'(y_i -
  \lambda)`. The estimate is linear in :math:`y`: with :math:`w` the treated cells'
  weights, :math:`c_i = X'w_i`, :math:`h_i = H_iG_i^{-1}c_i`, :math:`\omega_t = \sum_i
  w_{it}` and :math:`\rho = (\sum_i M_i)^{+}(\sum_i h_i - \omega)`, an untreated cell's
  weight is :math:`v_{it} = -h_{it} + (M_i\rho)_t`, which gives BJS's conservative
  clustered variance without any per-draw regression.

Each kernel equals the package's estimators on the same data (tests check it).

References
----------
Pustejovsky, J. E. and Tipton, E. (2018). Small-sample methods for cluster-robust
variance estimation and hypothesis testing in fixed effects models. *Journal of Business
& Economic Statistics* 36(4), 672–683.

Roodman, D., MacKinnon, J. G., Nielsen, M. Ø. and Webb, M. D. (2019). Fast and wild:
bootstrap inference in Stata using boottest. *The Stata Journal* 19(1), 4–60.

Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time
periods. *Journal of Econometrics* 225(2), 200–230.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]

#: Path code of a unit outside the draw's sample (its demeaned path is zero).
OUTSIDE = 3


@dataclass(frozen=True)
class Paths:
    """Fake rollouts of a chunk of draws.

    Attributes
    ----------
    codes : ndarray of int, draws × units
        0 never treated in the window, 1 first phase, 2 second phase.
    start : ndarray of int, draws
        Index of the first treated period of phase 1 (0-based).
    start2 : ndarray of int, draws
        Index of the first treated period of phase 2 (``n_periods`` or more: not in the
        window).
    """

    codes: Ints
    start: Ints
    start2: Ints

    def path_matrix(self, n_periods: int) -> Floats:
        """Treatment path of each code: draws × 3 × periods (codes 0, 1, 2)."""
        t = np.arange(n_periods)
        out = np.zeros((len(self.start), 3, n_periods))
        out[:, 1] = t[None, :] >= self.start[:, None]
        out[:, 2] = t[None, :] >= self.start2[:, None]
        return out

    def treatment(self, n_periods: int) -> Floats:
        """Return the treatment arrays: draws × units × periods."""
        paths = self.path_matrix(n_periods)
        return np.take_along_axis(paths, self.codes[:, :, None], axis=1)


def t_pvalue(stat: Floats, df: Floats | float) -> Floats:
    """Two-sided p-value of a t statistic (``df`` infinite: normal)."""
    stat = np.abs(stat)
    df_arr = np.broadcast_to(np.asarray(df, dtype=float), stat.shape)
    out = np.where(np.isinf(df_arr), special.erfc(stat / np.sqrt(2.0)), 0.0)
    fin = np.isfinite(df_arr) & np.isfinite(stat)
    out = np.where(fin, special.stdtr(np.where(fin, df_arr, 1.0), -stat) * 2.0, out)
    out = np.where(np.isnan(stat), np.nan, out)
    result: Floats = out
    return result


def demean_masked(a: Floats, mask: Floats) -> Floats:
    """Two-way demean ``a`` (draws × units × periods, or units × periods) on each draw's units.

    ``mask`` (draws × units, 0/1) marks the units in the draw's sample; units outside
    it are set to zero.
    """
    n_units = mask.sum(axis=1)
    full = np.broadcast_to(a, (mask.shape[0], *a.shape[-2:]))
    row = full.mean(axis=2)  # draws × units
    col = np.einsum("cn,cnt->ct", mask, full) / n_units[:, None]
    grand = np.einsum("cn,cn->c", mask, row) / n_units
    out: Floats = (full - row[:, :, None] - col[:, None, :] + grand[:, None, None]) * mask[
        :, :, None
    ]
    return out


@dataclass(frozen=True)
class TwfeDraws:
    """TWFE statistics of each draw: estimate, CR1, CR2 and the parts WCR and RI need."""

    beta: Floats
    se_cr1: Floats
    df_cr1: Floats
    se_cr2: Floats
    df_cr2: Floats
    ssc: Floats
    n_units: Floats
    den: Floats
    yt: Floats
    dt: Floats

    @property
    def p_cr1(self) -> Floats:
        """CR1 p-values of no effect (t on G - 1)."""
        return t_pvalue(self.beta / self.se_cr1, self.df_cr1)

    @property
    def p_cr2(self) -> Floats:
        """CR2 p-values of no effect (t on the Satterthwaite degrees of freedom)."""
        return t_pvalue(self.beta / self.se_cr2, self.df_cr2)


def twfe_draws(y: Floats, treat: Floats, mask: Bools) -> TwfeDraws:
    """Fit TWFE with CR1 and CR2 to every draw (``treat``: draws × units × periods)."""
    mf = mask.astype(float)
    n_units = mf.sum(axis=1)
    n_periods = y.shape[1]
    yt = demean_masked(y, mf)
    dt = demean_masked(treat, mf)
    den = (dt**2).sum(axis=(1, 2))
    beta = (dt * yt).sum(axis=(1, 2)) / den
    e = yt - beta[:, None, None] * dt
    s = (dt * e).sum(axis=2)  # unit scores
    n = n_units * n_periods
    ssc = n_units / (n_units - 1) * (n - 1) / (n - 1 - (n_units + n_periods - 1))
    se1 = np.sqrt(ssc * (s**2).sum(axis=1)) / den
    sii = (dt**2).sum(axis=2)
    lev = (1.0 - 1.0 / n_units)[:, None] - sii / den[:, None]
    ok = mask & (lev > 1e-12)
    lam = np.where(ok, 1.0 / np.sqrt(np.where(ok, lev, 1.0)), 0.0)
    se2 = np.sqrt(((lam * s) ** 2).sum(axis=1)) / den
    xx = np.einsum("cit,cjt->cij", dt, dt)
    ls = lam * sii
    omega = -(lam[:, :, None] * xx * lam[:, None, :]) / n_units[:, None, None]
    omega -= ls[:, :, None] * ls[:, None, :] / den[:, None, None]
    idx = np.arange(y.shape[0])
    omega[:, idx, idx] += lam**2 * sii
    df2 = np.trace(omega, axis1=1, axis2=2) ** 2 / (omega**2).sum(axis=(1, 2))
    return TwfeDraws(
        beta=beta, se_cr1=se1, df_cr1=n_units - 1, se_cr2=se2, df_cr2=df2, ssc=ssc,
        n_units=n_units, den=den, yt=yt, dt=dt,
    )  # fmt: skip


def wcr_pvalues(fit: TwfeDraws, v: Floats) -> Floats:
    """Restricted wild cluster bootstrap p-values of no effect (``v``: draws × B × units).

    Units outside a draw's sample have zero demeaned rows, so their weights do nothing.
    """
    r = fit.yt
    q = (fit.dt * r).sum(axis=2)  # draws × units
    m = np.einsum("cit,cjt->cij", fit.dt, r)
    sii = (fit.dt**2).sum(axis=2)
    b_star = np.einsum("cbn,cn->cb", v, q) / fit.den[:, None]
    scores = v * q[:, None, :]
    scores -= np.einsum("cbj,cij->cbi", v, m) / fit.n_units[:, None, None]
    scores -= b_star[:, :, None] * sii[:, None, :]
    se = np.sqrt(fit.ssc[:, None] * (scores**2).sum(axis=2)) / fit.den[:, None]
    t_obs = np.abs(fit.beta / fit.se_cr1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_star = np.abs(b_star / se)
    out: Floats = np.mean(t_star >= t_obs[:, None] * (1 - 1e-12), axis=1)
    return out


def permuted_codes(codes: Ints, mask: Bools, n_perm: int, rng: np.random.Generator) -> Ints:
    """Random permutations of each draw's path codes over its sample (observed first).

    Returns draws × (n_perm + 1) × units; units outside the sample keep :data:`OUTSIDE`.
    """
    c, n = codes.shape
    coded = np.where(mask, codes, OUTSIDE)
    inside_first = np.argsort(~mask, axis=1, kind="stable")
    values = np.take_along_axis(coded, inside_first, axis=1)  # sample's codes, then OUTSIDE
    keys = rng.random((c, n_perm, n)) + (~mask)[:, None, :] * 2.0
    order = np.argsort(keys, axis=2)
    out = np.empty((c, n_perm, n), dtype=np.int64)
    np.put_along_axis(out, order, np.broadcast_to(values[:, None, :], out.shape), axis=2)
    return np.concatenate([coded[:, None, :], out], axis=1)


def ri_pvalues(fit: TwfeDraws, paths: Paths, assignments: Ints) -> Floats:
    """Studentized randomization p-values of no effect (``assignments`` from :func:`permuted_codes`)."""
    n_draws, _, n_periods = fit.yt.shape
    raw = paths.path_matrix(n_periods)
    codes = assignments[:, 0, :]
    counts = np.stack([(codes == k).sum(axis=1) for k in range(3)], axis=1).astype(float)
    row = raw.mean(axis=2)  # draws × 3
    col = np.einsum("ck,ckt->ct", counts, raw) / fit.n_units[:, None]
    grand = (counts * row).sum(axis=1) / fit.n_units
    dpath = raw - row[:, :, None] - col[:, None, :] + grand[:, None, None]
    dpath = np.concatenate([dpath, np.zeros((n_draws, 1, n_periods))], axis=1)
    q = np.einsum("ckt,cit->cik", dpath, fit.yt)  # draws × units × 4
    rp = (dpath**2).sum(axis=2)  # draws × 4
    qa = np.take_along_axis(q[:, None, :, :], assignments[..., None], axis=3)[..., 0]
    beta = qa.sum(axis=2) / fit.den[:, None]
    ra = np.take_along_axis(rp, assignments.reshape(n_draws, -1), axis=1).reshape(assignments.shape)
    sc = qa - beta[:, :, None] * ra
    se = np.sqrt(fit.ssc[:, None] * (sc**2).sum(axis=2)) / fit.den[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.abs(beta / se)
    out: Floats = np.mean(t >= t[:, :1] * (1 - 1e-12), axis=1)
    return out


def reformed_ri_pvalues(
    y: Floats, paths: Paths, incidence: Floats, n_perm: int, rng: np.random.Generator
) -> Floats:
    """Studentized randomization p-values with the sample re-formed per assignment.

    Each draw's path codes are dealt to *all* units (observed assignment first), the
    units each assignment exposes are dropped and TWFE is refitted
    (:func:`soteria_eval.inference._reformed_ri.reformed_tstats`): the test that is exact
    for a design whose sample depends on who is treated.
    """
    from soteria_eval.inference._reformed_ri import reformed_tstats

    n_draws, n_units = paths.codes.shape
    n_periods = y.shape[1]
    everyone = np.ones((n_draws, n_units), dtype=bool)
    assign = permuted_codes(paths.codes, everyone, n_perm, rng)  # draws × (n_perm + 1) × units
    raw = paths.path_matrix(n_periods)
    out = np.full(n_draws, np.nan)
    step = max(1, 2048 // (n_perm + 1))
    for lo in range(0, n_draws, step):
        a = assign[lo : lo + step]
        treat = np.take_along_axis(raw[lo : lo + step, None, :, :], a[..., None], axis=2)
        _, t = reformed_tstats(y[None], treat.reshape(-1, n_units, n_periods), incidence)
        t = np.abs(t[0].reshape(a.shape[:2]))
        with np.errstate(invalid="ignore"):
            out[lo : lo + step] = np.mean(t >= t[:, :1] * (1 - 1e-12), axis=1)
    out[~np.isfinite(out)] = np.nan
    return out


@dataclass(frozen=True)
class CohortDraws:
    """An ATT per draw with its standard error and treated units, and its two p-values.

    Returned by :func:`one_cohort_cs` (analytic SE) and :func:`trend_imputation` (BJS).
    """

    att: Floats
    se: Floats
    n_treated: Floats

    @property
    def p_value(self) -> Floats:
        """Two-sided p-values of no effect, normal reference (as the estimator reports)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return t_pvalue(self.att / self.se, np.inf)

    @property
    def p_treated(self) -> Floats:
        """Two-sided p-values of no effect, t with treated units minus one degrees of freedom."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return t_pvalue(self.att / self.se, self.n_treated - 1)


def one_cohort_cs(y: Floats, paths: Paths, mask: Bools) -> CohortDraws:
    """Callaway–Sant'Anna simple ATT of draws with one start (never-treated controls)."""
    n_periods = y.shape[1]
    t = np.arange(n_periods)
    post = (t[None, :] >= paths.start[:, None]).astype(float)  # draws × T
    ybar = (post @ y.T) / post.sum(axis=1)[:, None]  # draws × units
    base = y[:, paths.start - 1].T  # draws × units
    z = ybar - base
    treated = (mask & (paths.codes == 1)).astype(float)
    control = (mask & (paths.codes == 0)).astype(float)
    n1, n0 = treated.sum(axis=1), control.sum(axis=1)
    m1 = (z * treated).sum(axis=1) / n1
    m0 = (z * control).sum(axis=1) / n0
    v1 = (((z - m1[:, None]) ** 2) * treated).sum(axis=1) / n1
    v0 = (((z - m0[:, None]) ** 2) * control).sum(axis=1) / n0
    return CohortDraws(att=m1 - m0, se=np.sqrt(v1 / n1 + v0 / n0), n_treated=n1)


def trend_imputation(y: Floats, paths: Paths, mask: Bools) -> CohortDraws:
    """Imputation DiD with unit-specific linear trends for every draw (see the module docstring).

    Equals :func:`soteria_eval.did.imputation_did` with ``unit_trends=True`` on each
    draw's sample (cohorts: the phase starts; the overall average effect).
    """
    n_draws, n_units = paths.codes.shape
    n_periods = y.shape[1]
    tt = np.arange(n_periods, dtype=float)
    x = np.column_stack([np.ones(n_periods), tt - tt.mean()])  # T × 2
    start = np.stack([np.full(n_draws, n_periods), paths.start, paths.start2], axis=1)
    first = np.take_along_axis(start, paths.codes, axis=1)  # draws × units
    inside = mask.astype(bool)
    untreated = (tt[None, None, :] < first[:, :, None]) & inside[:, :, None]  # c × n × T
    treated = (tt[None, None, :] >= first[:, :, None]) & inside[:, :, None]
    u = untreated.astype(float)
    gram = np.einsum("cnt,ta,tb->cnab", u, x, x)  # c × n × 2 × 2
    ok = np.linalg.det(gram) > 1e-9
    gram_inv = np.linalg.inv(np.where(ok[..., None, None], gram, np.eye(2)))
    gram_inv = np.where(ok[..., None, None], gram_inv, 0.0)
    hx = u[..., None] * x  # H_i: c × n × T × 2
    proj = np.einsum("cnta,cnab,cnsb->cnts", hx, gram_inv, hx)  # H G^-1 H'
    m_i = u[..., None] * np.eye(n_periods) - proj  # c × n × T × T
    a_mat = m_i.sum(axis=1) + x @ np.linalg.pinv(x)  # + projection on the null space
    yb = np.broadcast_to(y, (n_draws, n_units, n_periods))
    rhs = np.einsum("cnts,cns->ct", m_i, yb)
    lam = np.linalg.solve(a_mat, rhs[..., None])[..., 0]  # c × T
    resid0 = yb - lam[:, None, :]
    theta = np.einsum("cnab,cnta,cnt->cnb", gram_inv, hx, resid0)  # c × n × 2
    fitted = np.einsum("ta,cna->cnt", x, theta) + lam[:, None, :]
    tau = (yb - fitted) * treated
    n1 = treated.sum(axis=(1, 2)).astype(float)
    att = tau.sum(axis=(1, 2)) / n1
    w = treated / n1[:, None, None]
    c_i = np.einsum("cnt,ta->cna", w, x)
    h_i = np.einsum("cnta,cnab,cnb->cnt", hx, gram_inv, c_i)
    kappa = h_i.sum(axis=1) - w.sum(axis=1)
    rho = np.linalg.solve(a_mat, kappa[..., None])[..., 0]
    v = np.where(treated, w, -h_i + np.einsum("cnts,cs->cnt", m_i, rho)) * inside[:, :, None]
    # Residuals: untreated from the fit; treated centred on their cohort-by-event mean
    # (within a cohort every force starts together: event time is the period).
    eps = np.where(untreated, yb - fitted, 0.0)
    for code in (1, 2):
        in_code = treated & (paths.codes == code)[:, :, None]
        cnt = in_code.sum(axis=1)  # c × T (cells share an event time within a cohort)
        mean = np.where(cnt > 0, (tau * in_code).sum(axis=1) / np.maximum(cnt, 1), 0.0)
        eps = np.where(in_code, tau - mean[:, None, :], eps)
    scores = (v * eps).sum(axis=2)
    se = np.sqrt((scores**2).sum(axis=1))
    treated_units = (treated.any(axis=2)).sum(axis=1).astype(float)
    bad = ~ok & treated.any(axis=2)  # a treated unit with fewer than two untreated periods
    att = np.where(bad.any(axis=1), np.nan, att)
    return CohortDraws(att=att, se=se, n_treated=treated_units)
