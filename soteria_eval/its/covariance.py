"""Covariances for time-series regressions: Newey–West HAC and GLS with AR(1) errors."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar

Floats = NDArray[np.float64]


def default_lag(n: int) -> int:
    """Newey and West (1994) rule of thumb: ``floor(4 * (n / 100) ** (2 / 9))``."""
    return int(np.floor(4 * (n / 100) ** (2 / 9)))


def newey_west(x: Floats, resid: Floats, bread: Floats, lag: int) -> Floats:
    r"""Newey–West HAC covariance with Bartlett weights, no prewhitening, no df adjustment.

    .. math:: V = (X'X)^{-1} \Big[\sum_{l=-L}^{L} (1 - \tfrac{|l|}{L+1}) \Gamma_l\Big] (X'X)^{-1},
              \quad \Gamma_l = \sum_t e_t e_{t-l} x_t x_{t-l}'

    Equal to R ``sandwich::NeweyWest(fit, lag = L, prewhite = FALSE)``.
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
    return cov


def _ar1_transform(phi: float, a: Floats) -> Floats:
    """Prais–Winsten transform: rows such that (Pa)'(Pa) = a' R(phi)^-1 a · (1 - phi²)."""
    out = np.empty_like(a)
    out[0] = np.sqrt(1 - phi**2) * a[0]
    out[1:] = a[1:] - phi * a[:-1]
    return out


def gls_ar1(x: Floats, y: Floats) -> tuple[Floats, Floats, float, float]:
    r"""GLS with AR(1) errors, the correlation estimated by restricted maximum likelihood.

    Maximises the REML log-likelihood over :math:`\phi \in (-1, 1)`:

    .. math:: -\tfrac12\big[(n-p)\log\hat\sigma^2 + \log|R_\phi| + \log|X'R_\phi^{-1}X|\big],
              \quad \hat\sigma^2 = \frac{r'R_\phi^{-1}r}{n-p}, \quad \log|R_\phi| = (n-1)\log(1-\phi^2)

    as R ``nlme::gls(..., correlation = corAR1(), method = "REML")``.

    Returns
    -------
    beta, cov, phi, sigma
    """
    n, p = x.shape

    def parts(phi: float) -> tuple[float, Floats, Floats, float]:
        xs = _ar1_transform(phi, x) / np.sqrt(1 - phi**2)
        ys = _ar1_transform(phi, y) / np.sqrt(1 - phi**2)
        xtx = xs.T @ xs
        beta = np.linalg.solve(xtx, xs.T @ ys)
        r = ys - xs @ beta
        s2 = float(r @ r) / (n - p)
        logdet_r = (n - 1) * np.log(1 - phi**2)
        ll = -0.5 * ((n - p) * np.log(s2) + logdet_r + np.linalg.slogdet(xtx)[1])
        return ll, beta, xtx, s2

    opt = minimize_scalar(
        lambda ph: -parts(ph)[0], bounds=(-0.999, 0.999), method="bounded", options={"xatol": 1e-12}
    )
    phi = float(opt.x)
    _, beta, xtx, s2 = parts(phi)
    cov = np.asarray(s2 * np.linalg.inv(xtx), dtype=np.float64)
    return np.asarray(beta, dtype=np.float64), cov, phi, float(np.sqrt(s2))
