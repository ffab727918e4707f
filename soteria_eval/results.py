"""The results base class shared by every estimator.

Every estimator returns an object with the same face: ``tidy()`` (a DataFrame with
fixed columns), ``conf_int()``, ``summary()``, ``str()``, a one-line ``repr()``, an HTML
representation for notebooks and the book (long tables cut to :data:`HTML_MAX_ROWS` rows
with a count of the rest) and ``plot()``, which calls the matching function of
:mod:`soteria_eval.plotting` and returns a matplotlib figure. Re-inference (another
covariance, a bootstrap) returns a *new* results object; nothing is changed in place.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: Longest table an HTML view shows in full; longer ones show the first and last rows.
HTML_MAX_ROWS = 20

#: Columns of every ``tidy()`` table, in order.
TIDY_COLUMNS: tuple[str, ...] = (
    "term",
    "estimate",
    "std_error",
    "statistic",
    "df",
    "p_value",
    "ci_lower",
    "ci_upper",
    "inference",
)


def html_table(table: pd.DataFrame, max_rows: int = HTML_MAX_ROWS) -> str:
    """Render a table as HTML, cutting one longer than ``max_rows`` with a count of the rest."""
    fmt = "{:.4g}".format
    if len(table) <= max_rows:
        return table.to_html(index=False, float_format=fmt)
    tail = max_rows // 3
    head = max_rows - tail
    cut = len(table) - head - tail
    gap = pd.DataFrame([["…"] * table.shape[1]], columns=table.columns)
    shown = pd.concat([table.head(head).astype(object), gap, table.tail(tail).astype(object)])
    note = f"<p><em>{cut} of {len(table)} rows not shown; use <code>tidy()</code> for all.</em></p>"
    return shown.to_html(index=False, float_format=fmt) + note


def short_repr(obj: object, parts: list[str]) -> str:
    """Return ``<ClassName: part; part; ...>`` (the one-line ``repr`` of a results object)."""
    return f"<{type(obj).__name__}: {'; '.join(p for p in parts if p)}>"


@dataclass(frozen=True, repr=False)
class Results:
    """Estimates with their covariance and the settings that produced them.

    Attributes
    ----------
    params : pandas.Series
        Point estimates indexed by term.
    cov : pandas.DataFrame
        Covariance matrix of ``params``.
    df : pandas.Series
        Degrees of freedom of each term's t reference distribution (``inf``: normal).
    inference : str
        How standard errors and p-values were obtained.
    estimator : str
        Name of the estimator.
    nobs : int
        Observations used.
    n_dropped : int
        Rows of the input that the model excluded (missing values, singletons...).
    info : mapping
        Frozen settings and design facts (units, clusters, treated units, periods, ...).
    overrides : mapping
        Per-term inference that replaces the analytic one (e.g. a wild cluster bootstrap
        p-value and interval): keys ``p_value``, ``ci_lower``, ``ci_upper``, ``inference``.
    """

    params: pd.Series
    cov: pd.DataFrame
    df: pd.Series
    inference: str
    estimator: str
    nobs: int
    n_dropped: int = 0
    info: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def std_errors(self) -> pd.Series:
        """Standard errors."""
        return pd.Series(np.sqrt(np.diag(self.cov.to_numpy())), index=self.params.index)

    def tidy(self, alpha: float = 0.05) -> pd.DataFrame:
        """Return one row per term with the columns :data:`TIDY_COLUMNS`."""
        from scipy import special  # imported here: `import soteria_eval.did` stays quick

        est = self.params.to_numpy(dtype=float)
        se = np.sqrt(np.diag(self.cov.to_numpy(dtype=float)))
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = est / se
        df = self.df.reindex(self.params.index).to_numpy(dtype=float)
        normal = np.isinf(df)
        df_t = np.where(normal, 1.0, df)
        # The t and normal quantiles and tails (as scipy.stats computes them, without its
        # per-call overhead: results objects are tidied thousands of times in a study).
        crit = np.where(normal, special.ndtri(1 - alpha / 2), special.stdtrit(df_t, 1 - alpha / 2))
        pval = np.where(
            normal, 2 * special.ndtr(-np.abs(stat)), 2 * special.stdtr(df_t, -np.abs(stat))
        )
        out = pd.DataFrame(
            {
                "term": np.asarray(self.params.index.astype(str), dtype=object),
                "estimate": est,
                "std_error": se,
                "statistic": stat,
                "df": df,
                "p_value": pval,
                "ci_lower": est - crit * se,
                "ci_upper": est + crit * se,
                "inference": np.full(len(est), self.inference, dtype=object),
            },
            columns=list(TIDY_COLUMNS),
        )
        if self.overrides:
            terms = out["term"].to_numpy()
            for term, o in self.overrides.items():
                row = terms == term
                for key in ("p_value", "ci_lower", "ci_upper", "inference"):
                    if key in o:
                        out.loc[row, key] = o[key]
        return out

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Return ``ci_lower, ci_upper`` by term."""
        t = self.tidy(alpha).set_index("term")
        return t[["ci_lower", "ci_upper"]]

    def summary(self) -> str:
        """Return a plain-text summary: header lines, then the coefficient table."""
        head = [f"{self.estimator}", f"Observations: {self.nobs}   Dropped rows: {self.n_dropped}"]
        for key in ("outcome", "n_units", "n_treated", "n_periods", "n_clusters"):
            if key in self.info:
                head.append(f"{key.replace('_', ' ').capitalize()}: {self.info[key]}")
        head.append(f"Inference: {self.inference}")
        table = self.tidy().drop(columns="inference").set_index("term")
        with pd.option_context("display.float_format", "{:.6g}".format, "display.width", 120):
            return "\n".join(head) + "\n\n" + table.to_string()

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        first = ""
        if len(self.params):
            t = self.tidy().iloc[0]
            first = f"{t['term']} = {t['estimate']:.4g} (SE {t['std_error']:.3g})"
            if len(self.params) > 1:
                first += f" and {len(self.params) - 1} more term(s)"
        return short_repr(
            self, [self.estimator, f"{self.nobs} obs", f"inference {self.inference}", first]
        )

    def _repr_html_(self) -> str:
        head = "<br>".join(
            html.escape(line) for line in self.summary().split("\n\n")[0].split("\n")
        )
        return f"<div><p>{head}</p>{html_table(self.tidy().drop(columns='inference'))}</div>"

    def plot(self, **kwargs: Any) -> Any:
        """Plot the estimates with their intervals (:func:`soteria_eval.plotting.estimate_plot`).

        Keyword arguments go to the plotting function; returns a matplotlib figure.
        """
        from soteria_eval.plotting import estimate_plot

        kwargs.setdefault("title", self.estimator)
        return estimate_plot(self.tidy(), label="term", **kwargs)
