r"""Randomization inference for the two-way fixed-effects DiD coefficient.

Which units were treated is reassigned, keeping the adoption dates: the multiset of
treatment paths (e.g. five units from September 2021, seven from October 2022, the rest
untreated in the window) is dealt to the units in every possible way (or in a Monte Carlo
sample of ways when there are too many), and the TWFE statistic is recomputed for each
assignment. The p-value is the share of assignments whose statistic is at least as
extreme as the observed one; with the studentized statistic (CR1 t), the test is robust to
heteroskedasticity across units (MacKinnon and Webb 2020).

On a balanced panel without covariates the two-way demeaned treatment depends on a unit
only through its path, so every assignment's estimate and cluster-robust standard error
follow from a paths-by-units matrix: no regression is refitted, and a million assignments
take seconds.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from soteria_eval.inference._reformed_ri import exposed_units, incidence_matrix, reformed_tstats
from soteria_eval.inference.wild import TIES, count_as_extreme

Floats = NDArray[np.float64]


@dataclass(frozen=True, repr=False)
class RandomizationResult:
    """Outcome of a randomization test."""

    estimate: float
    t_stat: float
    p_value: float
    p_value_coef: float
    n_assignments: int
    exact: bool
    null_estimates: Floats
    n_units: int = 0
    resampled: bool = False

    def __repr__(self) -> str:
        from soteria_eval.results import short_repr

        kind = "exact" if self.exact else "Monte Carlo"
        return short_repr(
            self,
            [
                f"estimate {self.estimate:.4g}",
                f"p = {self.p_value:.3g} ({kind}, {self.n_assignments:,} assignments"
                + (", sample re-formed per assignment)" if self.resampled else ")"),
            ],
        )

    def tidy(self) -> pd.DataFrame:
        """One row in the package's tidy layout (interval not available)."""
        return pd.DataFrame(
            {
                "term": ["treatment"],
                "estimate": [self.estimate],
                "statistic": [self.t_stat],
                "p_value": [self.p_value],
                "inference": [self.label],
            }
        )

    @property
    def label(self) -> str:
        """How the p-value was made, e.g. ``randomization inference (exact, 792 assignments, studentized)``."""
        kind = "exact" if self.exact else "Monte Carlo"
        extra = ", sample re-formed per assignment" if self.resampled else ""
        return f"randomization inference ({kind}, {self.n_assignments:,} assignments, studentized{extra})"


def _assignments(
    paths: NDArray[np.int64], n_draws: int, max_exact: int, rng: np.random.Generator
) -> tuple[Iterator[NDArray[np.int64]], int, bool]:
    """Yield blocks of assignments (rows: path index per unit), observed first."""
    n = paths.size
    labels, counts = np.unique(paths, return_counts=True)
    total = math.factorial(n)
    for c in counts:
        total //= math.factorial(int(c))
    if total <= max_exact and len(labels) == 2:
        small = labels[np.argmin(counts)]
        other = (
            labels[np.argmax(counts)]
            if counts[0] != counts[1]
            else labels[1 - int(np.argmin(counts))]
        )
        k = int(counts.min())

        def exact() -> Iterator[NDArray[np.int64]]:
            combos = itertools.combinations(range(n), k)
            while True:
                block = list(itertools.islice(combos, 200_000))
                if not block:
                    return
                idx = np.array(block)
                a = np.full((len(block), n), other, dtype=np.int64)
                np.put_along_axis(a, idx, small, axis=1)
                yield a

        return exact(), total, True

    def monte_carlo() -> Iterator[NDArray[np.int64]]:
        yield paths[None, :]
        done = 0
        while done < n_draws:
            m = min(100_000, n_draws - done)
            yield rng.permuted(np.tile(paths, (m, 1)), axis=1)
            done += m

    return monte_carlo(), n_draws + 1, False


def randomization_test(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    n_draws: int = 9999,
    max_exact: int = 2_000_000,
    seed: int = 0,
    ties: str = "include",
    exposure: Mapping[Any, Sequence[str]] | None = None,
) -> RandomizationResult:
    """Randomization test of the TWFE DiD coefficient (see the module docstring).

    Parameters
    ----------
    data : pandas.DataFrame
        Balanced panel, one row per unit and period, no missing outcome.
    outcome, treatment, unit, time : str
        Columns; ``treatment`` is 0/1.
    n_draws : int
        Monte Carlo assignments when exact enumeration is not possible or too large.
    max_exact : int
        Enumerate every assignment when there are at most this many (and one treated path).
    seed : int
        Seed of the Monte Carlo draws.
    ties : {"include", "exclude"}
        Whether assignments whose statistic equals the observed one count as "at least
        as extreme": "include" (default; the observed assignment counts itself, the
        exact-test convention, so p is never 0) or "exclude" (strictly more extreme).
        See :func:`soteria_eval.inference.wild.share_as_extreme`.
    exposure : mapping of unit to groups, optional
        A sample rule that depends on the assignment: the groups (e.g. CPS Areas) serving
        each unit. Under the observed and under every reassigned assignment, a unit that
        is untreated in a period while a group serving it has a treated unit is left out,
        and the statistic is refitted on the rest (:mod:`soteria_eval.inference._reformed_ri`).
        ``data`` then holds *every* unit, exposed ones included; the estimate is the TWFE
        coefficient on the observed assignment's sample. A unit with a missing outcome
        is then kept in the assignment (a treated one still exposes its neighbours) and
        left out of every fit. Without it the sample is fixed and must be balanced.

    Notes
    -----
    With ``exposure`` the test is exact for the design "treatment paths dealt at random
    to all units, then exposed units dropped"; keeping the dropped sample fixed instead
    is not (see the ``exposure`` module's docstring).
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    wide_y = data.pivot(index=unit, columns=time, values=outcome)
    wide_d = data.pivot(index=unit, columns=time, values=treatment)
    usable = wide_y.notna().all(axis=1).to_numpy()
    if wide_d.isna().any().any() or (exposure is None and not usable.all()):
        raise ValueError(
            "randomization inference needs a balanced panel with no missing outcome or treatment"
        )
    y = wide_y.to_numpy(dtype=float)
    dmat = wide_d.to_numpy(dtype=float)
    n, _ = y.shape
    if usable.sum() < 3:
        raise ValueError("randomization inference needs at least 3 units")
    y0 = np.where(usable[:, None], np.nan_to_num(y), 0.0)
    yt = y0 - y0.mean(axis=1, keepdims=True) - y0.mean(axis=0, keepdims=True) + y0.mean()
    uniq, path_of = np.unique(dmat, axis=0, return_inverse=True)
    path_of = path_of.ravel().astype(np.int64)
    counts = np.bincount(path_of, minlength=len(uniq))
    col_mean = (counts[:, None] * uniq).sum(axis=0) / n
    dt = uniq - uniq.mean(axis=1, keepdims=True) - col_mean[None, :] + col_mean.mean()  # paths × T
    q = dt @ yt.T  # paths × units: sum_t dtilde_c(t) * ytilde_i(t)
    r = np.sum(dt**2, axis=1)  # paths
    den = float(counts @ r)
    if den <= 0:
        raise ValueError("the treatment does not vary within units and periods")
    n_periods = y.shape[1]
    k_fe = n + n_periods - 1
    ssc = n / (n - 1) * (n * n_periods - 1) / (n * n_periods - 1 - k_fe)

    def fixed_sample(a: NDArray[np.int64]) -> tuple[Floats, Floats]:
        qa = q[a, np.arange(n)[None, :]]
        beta = qa.sum(axis=1) / den
        # Residual sum of squares per unit is not needed: the cluster score of unit i is
        # sum_t dtilde_i(t) * e_i(t) = q_i - beta * r_i.
        s = qa - beta[:, None] * r[a]
        se = np.sqrt(ssc * np.sum(s**2, axis=1)) / den
        return beta, beta / se

    incidence = None if exposure is None else incidence_matrix(list(wide_y.index), exposure)

    def reformed(a: NDArray[np.int64]) -> tuple[Floats, Floats]:
        beta, t = reformed_tstats(y[None], uniq[a], incidence, usable)
        return beta[0], t[0]

    stats_for = fixed_sample if incidence is None else reformed

    blocks, _, exact = _assignments(path_of, n_draws, max_exact, np.random.default_rng(seed))
    obs_b, obs_t = stats_for(path_of[None, :])
    if not np.isfinite(obs_t[0]):
        raise ValueError("the observed assignment's sample leaves no treatment variation")
    t0, b0 = float(obs_t[0]), float(obs_b[0])
    ge_t = ge_b = 0
    seen = 0
    kept: list[Floats] = []
    for a in blocks:
        b, t = stats_for(a)
        ge_t += count_as_extreme(np.abs(t), abs(t0), ties)
        ge_b += count_as_extreme(np.abs(b), abs(b0), ties)
        seen += len(a)
        if sum(len(k) for k in kept) < 100_000:
            kept.append(b)
    return RandomizationResult(
        estimate=b0,
        t_stat=t0,
        p_value=ge_t / seen,
        p_value_coef=ge_b / seen,
        n_assignments=seen,
        exact=exact,
        null_estimates=np.concatenate(kept)[:100_000],
        n_units=n
        if exposure is None
        else int((~exposed_units(dmat[None], incidence)[0] & usable).sum()),
        resampled=exposure is not None,
    )


def permutation_test(
    data: pd.DataFrame,
    *,
    unit: str,
    assignment: str,
    statistic: Callable[[pd.DataFrame], tuple[float, float]],
    n_draws: int = 999,
    max_exact: int = 5000,
    seed: int = 0,
) -> RandomizationResult:
    """Randomization test for any estimator, by re-dealing a unit-level assignment.

    The values of ``assignment`` (constant within a unit: a cohort, an adoption date, a
    treated flag) are dealt to the units in every possible way when there are at most
    ``max_exact`` distinct ways and two distinct values, otherwise in ``n_draws`` random
    permutations (plus the observed one); ``statistic`` is recomputed on each re-dealt
    data set. Unlike :func:`randomization_test`, which needs no refit, this refits the
    estimator every time: use it for Callaway–Sant'Anna aggregates, comparative ITS and
    other nonlinear functions of the assignment.

    Parameters
    ----------
    statistic : callable
        Data → ``(estimate, t statistic)``; the p-value uses the studentized statistic
        (``p_value``) and the estimate (``p_value_coef``).

    Returns
    -------
    RandomizationResult
    """
    if unit not in data or assignment not in data:
        raise ValueError(
            f"column(s) not in data: {[c for c in (unit, assignment) if c not in data]}"
        )
    per_unit = data.groupby(unit, sort=True)[assignment].agg(["nunique", "first"])
    varying = per_unit.index[per_unit["nunique"] > 1]
    if len(varying):
        raise ValueError(f"{assignment!r} varies within unit {varying[0]!r}; it must be unit-level")
    units = per_unit.index.to_numpy()
    values = per_unit["first"].to_numpy()
    if len(units) < 3:
        raise ValueError("randomization inference needs at least 3 units")
    uniq, codes = np.unique(values.astype(str), return_inverse=True)
    lookup = pd.Series(values, index=values.astype(str)).groupby(level=0).first()
    blocks, _, exact = _assignments(
        codes.astype(np.int64), n_draws, max_exact, np.random.default_rng(seed)
    )
    row_unit = pd.Index(units).get_indexer(data[unit])
    b0, t0 = statistic(data)
    est, tst = [], []
    for block in blocks:
        for a in block:
            dealt = lookup[uniq[a]].to_numpy()
            b, t = statistic(data.assign(**{assignment: dealt[row_unit]}))
            est.append(b)
            tst.append(t)
    b_all, t_all = np.array(est), np.array(tst)
    return RandomizationResult(
        estimate=float(b0),
        t_stat=float(t0),
        p_value=float(np.mean(np.abs(t_all) >= abs(t0) * (1 - 1e-12))),
        p_value_coef=float(np.mean(np.abs(b_all) >= abs(b0) * (1 - 1e-12))),
        n_assignments=len(b_all),
        exact=exact,
        null_estimates=b_all,
    )


def cs_randomization_test(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    aggregation: str = "simple",
    term: str = "overall",
    n_draws: int = 999,
    max_exact: int = 5000,
    seed: int = 0,
    **options: Any,
) -> RandomizationResult:
    """Randomization test of a Callaway–Sant'Anna aggregate, re-dealing the cohorts.

    Each unit's cohort (first treated period, or never treated) is dealt to the units
    in every way (or a Monte Carlo sample); the ATT(g,t) are re-estimated and aggregated,
    and the studentized aggregate (analytic influence-function SE) is compared with the
    observed one. ``options`` go to :func:`~soteria_eval.did.callaway_santanna`.
    """
    from soteria_eval.did import callaway_santanna

    def stat(d: pd.DataFrame) -> tuple[float, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            agg = callaway_santanna(
                d, outcome=outcome, unit=unit, time=time, cohort=cohort, **options
            ).aggregate(aggregation)  # type: ignore[arg-type]
        b = float(agg.params[term])
        return b, b / float(agg.std_errors[term])

    return permutation_test(
        data,
        unit=unit,
        assignment=cohort,
        statistic=stat,
        n_draws=n_draws,
        max_exact=max_exact,
        seed=seed,
    )


def its_randomization_test(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    unit: str,
    treated: str,
    interruptions: Sequence[Any],
    term: str | None = None,
    n_draws: int = 999,
    max_exact: int = 5000,
    seed: int = 0,
    **options: Any,
) -> RandomizationResult:
    """Randomization test of a comparative ITS effect, re-dealing which units are treated.

    For each assignment the treated units' mean series is compared with the other units'
    mean series by :func:`~soteria_eval.its.comparative_its` (difference approach); the
    statistic is the differential level change of the first programme interruption (or
    ``term``). ``treated`` is a 0/1 unit-level column; ``options`` go to the ITS fit.
    """
    from soteria_eval.its import comparative_its

    prog = next((i for i in interruptions if i.programme), None)
    if prog is None and term is None:
        raise ValueError("give a programme interruption or a term")
    name = term or f"level:{prog.name}"  # type: ignore[union-attr]

    def stat(d: pd.DataFrame) -> tuple[float, float]:
        two = d.groupby([treated, time])[outcome].mean().reset_index()
        res = comparative_its(
            two,
            outcome=outcome,
            time=time,
            group=treated,
            treated=1,
            interruptions=interruptions,
            approach="difference",
            **options,
        )
        return float(res.params[name]), float(res.params[name] / res.std_errors[name])

    return permutation_test(
        data,
        unit=unit,
        assignment=treated,
        statistic=stat,
        n_draws=n_draws,
        max_exact=max_exact,
        seed=seed,
    )
