"""Covariances for time-series regressions: Newey–West HAC and GLS with AR(1) errors."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar

Floats = NDArray[np.float64]


def default_lag(n: int) -> int:
    """Newey and West (1994) rule of thumb: ``floor(4 * (n / 100) ** (2 / 9))``."""
    return int(np.floor(4 * (n / 100) ** (2 / 9)))


def newey_west(x: Floats, resid: Floats, bread: Floats, lag: int, adjust: bool = False) -> Floats:
    r"""Newey–West HAC covariance with Bartlett weights and no prewhitening.

    .. math:: V = c\,(X'X)^{-1} \Big[\sum_{l=-L}^{L} (1 - \tfrac{|l|}{L+1}) \Gamma_l\Big] (X'X)^{-1},
              \quad \Gamma_l = \sum_t e_t e_{t-l} x_t x_{t-l}'

    with :math:`c = 1`, or :math:`c = n/(n-k)` when ``adjust`` is true. Equal to R
    ``sandwich::NeweyWest(fit, lag = L, prewhite = FALSE, adjust = adjust)``.
    """
    if lag < 0:
        raise ValueError(f"lag must be >= 0, got {lag}")
    u = x * resid[:, None]
    meat = u.T @ u
    for lv in range(1, lag + 1):
        w = 1 - lv / (lag + 1)
        g = u[lv:].T @ u[:-lv]
        meat += w * (g + g.T)
    cov: Floats = bread @ meat @ bread
    if adjust:
        n, k = x.shape
        cov = cov * (n / (n - k))
    return cov


def _ar1_transform(phi: float, a: Floats) -> Floats:
    """Prais–Winsten transform: rows such that (Pa)'(Pa) = a' R(phi)^-1 a · (1 - phi²)."""
    out = np.empty_like(a)
    out[0] = np.sqrt(1 - phi**2) * a[0]
    out[1:] = a[1:] - phi * a[:-1]
    return out


def gls_ar1(x: Floats, y: Floats, method: str = "REML") -> tuple[Floats, Floats, float, float]:
    r"""GLS with AR(1) errors, the correlation estimated by (restricted) maximum likelihood.

    ``method="REML"`` maximises over :math:`\phi \in (-1, 1)`

    .. math:: -\tfrac12\big[(n-p)\log\hat\sigma^2 + \log|R_\phi| + \log|X'R_\phi^{-1}X|\big],
              \quad \hat\sigma^2 = \frac{r'R_\phi^{-1}r}{n-p}, \quad \log|R_\phi| = (n-1)\log(1-\phi^2)

    as R ``nlme::gls(..., correlation = corAR1(), method = "REML")``; ``method="ML"``
    maximises :math:`-\tfrac12[n\log\hat\sigma^2 + \log|R_\phi|]` with
    :math:`\hat\sigma^2 = r'R_\phi^{-1}r/n`, as ``method = "ML"``. Either way the
    covariance is :math:`\frac{r'R_\phi^{-1}r}{n-p} (X'R_\phi^{-1}X)^{-1}` (as ``vcov``
    of an ``nlme::gls`` fit, which rescales the ML variance by :math:`n/(n-p)`), and
    ``sigma`` is that method's :math:`\hat\sigma` (as ``fit$sigma``).

    Returns
    -------
    beta, cov, phi, sigma
    """
    _check_method(method)
    n, p = x.shape
    dof = n - p if method == "REML" else n

    def parts(phi: float) -> tuple[float, Floats, Floats, float]:
        xs = _ar1_transform(phi, x) / np.sqrt(1 - phi**2)
        ys = _ar1_transform(phi, y) / np.sqrt(1 - phi**2)
        xtx = xs.T @ xs
        beta = np.linalg.solve(xtx, xs.T @ ys)
        r = ys - xs @ beta
        s2 = float(r @ r) / dof
        logdet_r = (n - 1) * np.log(1 - phi**2)
        ll = -0.5 * (dof * np.log(s2) + logdet_r)
        if method == "REML":
            ll -= 0.5 * np.linalg.slogdet(xtx)[1]
        return ll, beta, xtx, s2

    opt = minimize_scalar(
        lambda ph: -parts(ph)[0], bounds=(-0.999, 0.999), method="bounded", options={"xatol": 1e-12}
    )
    phi = float(opt.x)
    _, beta, xtx, s2 = parts(phi)
    cov = np.asarray(s2 * dof / (n - p) * np.linalg.inv(xtx), dtype=np.float64)
    return np.asarray(beta, dtype=np.float64), cov, phi, float(np.sqrt(s2))


def _pacf_to_ar(pacf: Floats) -> Floats:
    """Durbin–Levinson: partial autocorrelations in (-1, 1) to stationary AR coefficients."""
    phi = np.zeros(0)
    for k, r in enumerate(pacf):
        phi = np.append(phi - r * phi[::-1], r) if k else np.array([r])
    return phi


def ar_correlation(phi: Floats, n: int) -> Floats:
    r"""Correlation matrix :math:`R_{ij} = \rho(|i-j|)` of a stationary AR(p) process.

    The autocorrelations solve the Yule–Walker equations for lags ``0..p`` and follow the
    recursion :math:`\rho(k) = \sum_j \phi_j \rho(k-j)` beyond.
    """
    from scipy.linalg import toeplitz

    p = len(phi)
    # Yule–Walker for rho(1..p): rho(k) = sum_j phi_j rho(|k-j|), rho(0) = 1.
    a = np.eye(p)
    b = np.zeros(p)
    for k in range(1, p + 1):
        for j in range(1, p + 1):
            lag = abs(k - j)
            if lag == 0:
                b[k - 1] += phi[j - 1]
            else:
                a[k - 1, lag - 1] -= phi[j - 1]
    rho = np.ones(max(n, p + 1))
    rho[1 : p + 1] = np.linalg.solve(a, b)
    for k in range(p + 1, n):
        rho[k] = float(phi @ rho[k - p : k][::-1])
    out: Floats = toeplitz(rho[:n])
    return out


def _check_method(method: str) -> None:
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")


def gls_ar(
    x: Floats, y: Floats, order: int, method: str = "REML"
) -> tuple[Floats, Floats, Floats, float]:
    r"""GLS with AR(p) errors, the correlation estimated by (restricted) maximum likelihood.

    Maximises over the partial autocorrelations :math:`\pi_1..\pi_p \in (-1,1)` (so the
    process stays stationary, as ``nlme`` does) the REML log-likelihood

    .. math:: -\tfrac12\big[(n-k)\log\hat\sigma^2 + \log|R| + \log|X'R^{-1}X|\big],
              \quad \hat\sigma^2 = \frac{r'R^{-1}r}{n-k},

    with :math:`R` the AR(p) correlation matrix (:func:`ar_correlation`); equals R
    ``nlme::gls(..., correlation = corARMA(p = order), method = "REML")``. With
    ``method="ML"`` the :math:`\log|X'R^{-1}X|` term is dropped and :math:`n - k`
    becomes :math:`n`, as ``method = "ML"``.

    Returns
    -------
    beta, cov, phi, sigma
        ``phi`` holds the ``order`` autoregressive coefficients.
    """
    from scipy.linalg import cho_factor, cho_solve
    from scipy.optimize import minimize

    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    _check_method(method)
    n, k = x.shape
    dof = n - k if method == "REML" else n

    def parts(z: Floats) -> tuple[float, Floats, Floats, float]:
        phi = _pacf_to_ar(np.tanh(z))
        c = cho_factor(ar_correlation(phi, n), lower=True)
        logdet = 2 * float(np.log(np.diag(c[0])).sum())
        rx, ry = cho_solve(c, x), cho_solve(c, y)
        xtx = x.T @ rx
        beta = np.linalg.solve(xtx, x.T @ ry)
        r = y - x @ beta
        s2 = float(r @ cho_solve(c, r)) / dof
        ll = -0.5 * (dof * np.log(s2) + logdet)
        if method == "REML":
            ll -= 0.5 * np.linalg.slogdet(xtx)[1]
        return ll, beta, xtx, s2

    best = minimize(
        lambda z: -parts(z)[0],
        np.zeros(order),
        method="BFGS",
        options={"gtol": 1e-10, "maxiter": 500},
    )
    z = np.asarray(best.x, dtype=float)
    _, beta, xtx, s2 = parts(z)
    cov = np.asarray(s2 * dof / (n - k) * np.linalg.inv(xtx), dtype=np.float64)
    return (
        np.asarray(beta, dtype=np.float64),
        cov,
        _pacf_to_ar(np.tanh(z)),
        float(np.sqrt(s2)),
    )


def newey_west_many(x: Floats, resid: Floats, bread: Floats, lag: int) -> Floats:
    """:func:`newey_west` for many series sharing one design, in one pass.

    ``resid`` is ``(n, m)``, one column per series; returns ``(m, p, p)`` covariances.
    The cost is a few tensor contractions, with no loop over series.
    """
    if lag < 0:
        raise ValueError(f"lag must be >= 0, got {lag}")
    u = resid.T[:, :, None] * x[None, :, :]  # (m, n, p): scores, one series per slice
    ut = u.transpose(0, 2, 1)
    meat = ut @ u  # batched matrix products (BLAS), not an einsum loop
    for lv in range(1, lag + 1):
        g = ut[:, :, lv:] @ u[:, :-lv, :]
        meat += (1 - lv / (lag + 1)) * (g + g.transpose(0, 2, 1))
    cov: Floats = bread @ meat @ bread
    return cov


def driscoll_kraay(
    x: Floats, resid: Floats, period: NDArray[np.int64], bread: Floats, lag: int
) -> Floats:
    r"""Driscoll–Kraay covariance for a pooled panel of series: Newey–West on period scores.

    .. math:: V = (X'X)^{-1} \Big[\sum_{l=-L}^{L} (1 - \tfrac{|l|}{L+1}) \sum_t h_t h_{t-l}'\Big] (X'X)^{-1},
              \quad h_t = \sum_i x_{it} e_{it}

    Robust to heteroskedasticity, autocorrelation up to lag :math:`L`, and any correlation
    between the series in the same period. With two series and a fully interacted design
    the differential terms' covariance equals :func:`newey_west` on the difference series.

    References
    ----------
    Driscoll, J. C. and Kraay, A. C. (1998). Consistent covariance matrix estimation with
    spatially dependent panel data. *Review of Economics and Statistics* 80(4).
    """
    n_t = int(period.max()) + 1
    one_hot = np.zeros((n_t, len(period)))
    one_hot[period, np.arange(len(period))] = 1.0
    h = one_hot @ (x * resid[:, None])  # period sums of the scores
    return newey_west(h, np.ones(n_t), bread, lag)
