r"""Force dynamics: trends, persistent shocks and shared shocks, calibrated to real panels.

Real force panels move in ways a simulator with constant force factors never does: each
force drifts on its own trend, a shock in one quarter persists into the next, and some
shocks hit groups of forces at once (COVID-19 in 2020, with a depth that varies by
force). :class:`ForceDynamics` describes such a latent process on the log scale, per
force and quarter,

.. math::

   u_{fq} = \beta_f\,(q - \bar q) + a_{fq} + c_f\,\mathbb 1[q \in \text{COVID}], \qquad
   a_{fq} = \rho\,a_{f,q-1} + \varepsilon_{fq},

with :math:`\beta_f \sim N(0, \sigma_\beta^2)`, stationary AR(1) shocks of standard
deviation :math:`\sigma_a` and a COVID-19 dip :math:`c_f \sim N(0, \sigma_c^2)` beyond the
national one. The simulator multiplies a force's report volume (and, with its own
process, its referral rate) by :math:`e^{u_{fq}}`; the same draws serve the worlds with
and without the programme, so the planted truth stays exact.

:func:`panel_dynamics` measures a units × quarters log panel the same way on real and
simulated data: two-way fixed effects removed, each unit's linear trend fitted (the
spread of those slopes), and the residual standard deviation and pooled first-order
autocorrelation after the trends. :data:`CALIBRATED` is set so that a simulated
all-offence-like series (large counts: sampling noise negligible) measures within ±25%
of the Home Office's all-offences panel, 2014/15 Q1 to 2019/20 Q1
(:func:`real_targets`; a test holds it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class ForceDynamics:
    """A latent force × quarter process on the log scale (all zero: no dynamics).

    Attributes
    ----------
    trend_sd : float
        Standard deviation of force-specific linear trends (log points per quarter).
    shock_sd : float
        Stationary standard deviation of the AR(1) force × quarter shocks.
    ar1 : float
        Their first-order autocorrelation (quarter to quarter).
    covid_sd : float
        Standard deviation of a force's own COVID-19 dip (log points, April to September
        2020), on top of the national dip.
    """

    trend_sd: float = 0.0
    shock_sd: float = 0.0
    ar1: float = 0.0
    covid_sd: float = 0.0

    def __post_init__(self) -> None:
        if min(self.trend_sd, self.shock_sd, self.covid_sd) < 0 or not -1 < self.ar1 < 1:
            raise ValueError(f"standard deviations must be >= 0 and |ar1| < 1, got {self}")

    @property
    def active(self) -> bool:
        """True when the process is not identically zero."""
        return max(self.trend_sd, self.shock_sd, self.covid_sd) > 0

    def draw(
        self, n_forces: int, quarters: pd.PeriodIndex, z: Floats, z_trend: Floats, z_covid: Floats
    ) -> Floats:
        """Return the process for ``n_forces`` × ``quarters`` from standard normal draws.

        ``z`` is ``n_forces × len(quarters)``; ``z_trend`` and ``z_covid`` have one value
        per force. Deterministic in the draws, so coupled worlds share it.
        """
        n_q = len(quarters)
        t = np.arange(n_q, dtype=float) - (n_q - 1) / 2
        eps = z * self.shock_sd * math.sqrt(1 - self.ar1**2)
        a = np.empty_like(eps)
        a[:, 0] = z[:, 0] * self.shock_sd
        for q in range(1, n_q):  # a recursion over quarters (about 40), vectorised over forces
            a[:, q] = self.ar1 * a[:, q - 1] + eps[:, q]
        start = pd.Period("2020-04", "M").asfreq("Q-DEC")
        covid = np.array([start <= p <= start + 1 for p in quarters], dtype=float)
        out: Floats = (
            self.trend_sd * z_trend[:, None] * t[None, :]
            + a
            + self.covid_sd * z_covid[:, None] * covid[None, :]
        )
        return out


#: No force dynamics: the simulator as its designs assume (the ``ideal`` world).
IDEAL = ForceDynamics()
#: Report volume: fitted to the Home Office all-offences charges (log counts) by force and
#: quarter, 2014/15 Q1 to 2019/20 Q1 (:func:`real_targets`). The parameters exceed what
#: :func:`panel_dynamics` measures (0.0079, 0.106, 0.21) because detrending 21 quarters
#: absorbs part of the shocks and biases the autocorrelation down; they were chosen so that
#: the measured values match on average over simulated panels (:func:`simulated_dynamics`).
#: The COVID-19 spread (5 log points) is an assumption: the window holds no COVID quarter.
CALIBRATED = ForceDynamics(trend_sd=0.006, shock_sd=0.118, ar1=0.37, covid_sd=0.05)
#: Referral rate: fitted the same way to the charge rate (outcome 1 over all assigned
#: outcomes, log; measured 0.0113, 0.102, 0.35).
CALIBRATED_RATE = ForceDynamics(trend_sd=0.009, shock_sd=0.12, ar1=0.53, covid_sd=0.05)


def panel_dynamics(y: Floats | pd.DataFrame) -> dict[str, float]:
    r"""Measure a units × quarters log panel: trend spread, residual spread, autocorrelation.

    Two-way demeaned :math:`e_{it}`; per unit the OLS slope :math:`b_i` on centred time;
    ``trend_sd`` is the standard deviation of the :math:`b_i`, ``resid_sd`` that of
    :math:`r_{it} = e_{it} - b_i t`, and ``ar1`` the pooled
    :math:`\sum r_{it} r_{i,t-1} / \sum r_{i,t-1}^2`. Units with a missing cell are left out.
    """
    arr = y.to_numpy(dtype=float) if isinstance(y, pd.DataFrame) else np.asarray(y, float)
    arr = arr[np.isfinite(arr).all(axis=1)]
    n, t = arr.shape
    e = arr - arr.mean(axis=1, keepdims=True) - arr.mean(axis=0, keepdims=True) + arr.mean()
    tt = np.arange(t) - (t - 1) / 2
    slope = (e @ tt) / (tt @ tt)
    r = e - slope[:, None] * tt[None, :]
    return {
        "trend_sd": float(slope.std()),
        "resid_sd": float(r.std()),
        "ar1": float((r[:, 1:] * r[:, :-1]).sum() / (r[:, :-1] ** 2).sum()),
        "units": float(n),
        "periods": float(t),
    }


#: The real outcomes each process is calibrated to, and the tolerance of the calibration.
TARGET_OUTCOMES: dict[str, tuple[str, str | None]] = {
    "volume": ("closed_all_t1", None),
    "rate": ("closed_all_t1", "closed_all_assigned"),
}
TOLERANCE = 0.25


def real_targets() -> pd.DataFrame:
    """Return the real panel's dynamics: one row per process and statistic, with the source.

    Returns
    -------
    pandas.DataFrame
        Columns ``process, statistic, real, source``.
    """
    from soteria_eval._paths import bundled_data_dir
    from soteria_eval.validation.placebo_data import placebo_panel

    file = bundled_data_dir() / "all_offences_outcomes_by_force_quarter.csv"
    rows = []
    for process, (col, den) in TARGET_OUTCOMES.items():
        data = placebo_panel(file, col, rate=None if den is None else (col, den))
        values = data.values if den is None else np.log(data.values)
        stats = panel_dynamics(values)
        label = col if den is None else f"{col}/{den}"
        source = (
            f"Home Office all-offences outcomes by force and quarter, log {label}, "
            f"{data.values.columns[0]} to {data.values.columns[-1]}, {int(stats['units'])} forces "
            "(flagged cells' forces left out)"
        )
        for k in ("trend_sd", "resid_sd", "ar1"):
            rows.append({"process": process, "statistic": k, "real": stats[k], "source": source})
    return pd.DataFrame(rows)


def simulated_dynamics(
    dynamics: ForceDynamics,
    *,
    n_forces: int = 43,
    n_quarters: int = 21,
    seed: int = 0,
    base: float = 5000.0,
) -> dict[str, float]:
    """Measure a large-count series driven by ``dynamics``, as :func:`panel_dynamics` does.

    The series is Poisson with mean ``base`` times a force level, a national path and
    :math:`e^{u_{fq}}`: the all-offence analogue whose sampling noise is negligible.
    Quarters from 2014-Q2, so the window holds no COVID-19 quarter, as the real one.
    """
    rng = np.random.default_rng(seed)
    quarters = pd.period_range("2014-Q2", periods=n_quarters, freq="Q-DEC")
    u = dynamics.draw(
        n_forces, quarters, rng.standard_normal((n_forces, n_quarters)),
        rng.standard_normal(n_forces), rng.standard_normal(n_forces),
    )  # fmt: skip
    level = np.exp(rng.normal(0, 0.6, n_forces))
    national = np.exp(0.01 * np.arange(n_quarters))
    counts = rng.poisson(base * level[:, None] * national[None, :] * np.exp(u))
    return panel_dynamics(np.log(np.maximum(counts, 1)))


__all__ = [
    "CALIBRATED",
    "CALIBRATED_RATE",
    "IDEAL",
    "ForceDynamics",
    "panel_dynamics",
    "real_targets",
    "simulated_dynamics",
]
