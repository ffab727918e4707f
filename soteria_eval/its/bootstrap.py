r"""Wild bootstrap inference for segmented and comparative ITS, by blocks of periods.

A single series has no clusters, and its errors are autocorrelated, so the wild bootstrap
multiplies *blocks* of consecutive periods (by default a year: 12 months or 4 quarters)
by one weight each: the wild cluster bootstrap with blocks as clusters. Within a block
the residuals keep their dependence; blocks are treated as independent, which is the
assumption of this method (and a reason to prefer long blocks when the autocorrelation
is strong). The statistic is studentized with the block-clustered CR1 standard error;
the p-value and interval (test inversion, WCR) replace the analytic ones for the term.
The pooled comparative ITS stacks both series, so a block holds both series' periods
(robust to their correlation in the same period).

References
----------
Cameron, A. C., Gelbach, J. B. and Miller, D. L. (2008). Bootstrap-based improvements for
inference with clustered errors. *Review of Economics and Statistics* 90(3).
Roodman, D., MacKinnon, J. G., Nielsen, M. Ø. and Webb, M. D. (2019). Fast and wild.
*The Stata Journal* 19(1).
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from soteria_eval.its.segmented import ITSResults
from soteria_eval.linear_model import FewClustersWarning, fit_absorbed
from soteria_eval.periods import infer_frequency


def its_wild_bootstrap(
    res: ITSResults,
    term: str,
    *,
    block: int | None = None,
    n_boot: int = 9999,
    weights: str = "webb",
    impose_null: bool = True,
    seed: int = 0,
    alpha: float = 0.05,
) -> ITSResults:
    """Block wild bootstrap p-value and interval for one ITS term (see the module docstring).

    Parameters
    ----------
    res : ITSResults
        From :func:`~soteria_eval.its.segmented_regression` (OLS errors: ``"hac"`` or
        ``"ols"``) or :func:`~soteria_eval.its.comparative_its`.
    term : str
        The coefficient, e.g. ``"level:programme"`` or ``"treated:level:programme"``.
    block : int, optional
        Periods per block; default a year (12 for monthly labels, 4 for quarterly, else 1).
    n_boot, weights, impose_null, seed, alpha
        As in :func:`~soteria_eval.inference.wild_cluster_bootstrap`.

    Returns
    -------
    ITSResults
        A new results object; ``tidy()`` carries the bootstrap p-value and interval for
        ``term`` and ``info["wild"]`` the details.
    """
    from soteria_eval.inference.wild import wild_cluster_bootstrap

    if term not in res.params.index:
        raise ValueError(f"unknown term {term!r}; terms: {list(res.params.index)}")
    if res.info.get("errors") not in ("hac", "ols"):
        raise ValueError(
            "the block wild bootstrap resamples OLS residuals; fit with errors='hac' or 'ols'"
        )
    if block is None:
        block = {"month": 12, "quarter": 4}.get(str(infer_frequency(res.labels[0])), 1)
    if block < 1:
        raise ValueError(f"block must be >= 1 period, got {block}")
    design = res.design[res.params.index]
    n = len(design)
    blocks = np.arange(n) // block
    if res.info.get("approach") == "pooled":
        k = design.shape[1] // 2
        x0 = design.to_numpy()[:, :k]
        x = np.block([[x0, np.zeros_like(x0)], [x0, x0]])
        assert res.comparison is not None
        y = np.concatenate([res.comparison, res.y])
        blocks = np.tile(blocks, 2)
    else:
        x, y = design.to_numpy(), res.y
    g = int(blocks.max()) + 1
    if g < 4:
        raise ValueError(f"only {g} blocks of {block} periods: too few to bootstrap")
    names = [str(c) for c in design.columns]
    frame = pd.DataFrame(x, columns=names).assign(_y=y, _block=blocks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        lin = fit_absorbed(
            frame,
            outcome="_y",
            regressors={c: c for c in names},
            cluster="_block",
            vcov="CR1",
        )
        boot = wild_cluster_bootstrap(
            lin,
            term,
            n_boot=n_boot,
            weights=weights,
            impose_null=impose_null,
            seed=seed,
            alpha=alpha,
        )
    wild = {**boot.info["wild"][term], "block": block, "n_blocks": g}
    label = boot.overrides[term]["inference"].replace("by _block", f"by blocks of {block} periods")
    overrides = {**res.overrides, term: {**boot.overrides[term], "inference": label}}
    return replace(
        res,
        overrides=overrides,
        info={**res.info, "wild": {**res.info.get("wild", {}), term: wild}},
    )


__all__ = ["its_wild_bootstrap"]
