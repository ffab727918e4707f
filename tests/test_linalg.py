"""Fixed-effect absorption: the direct projection equals alternating projections."""

from __future__ import annotations

import numpy as np
import pytest

from soteria_eval import _linalg
from soteria_eval._linalg import Absorber


@pytest.mark.parametrize("weighted", [False, True])
def test_direct_projection_equals_alternating_projections(
    weighted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(5)
    units, periods = np.meshgrid(np.arange(43), np.arange(22), indexing="ij")
    keep = rng.random(units.size) > 0.08  # an unbalanced panel (scattered gaps)
    a, b = units.ravel()[keep], periods.ravel()[keep]
    w = rng.uniform(0.5, 3.0, a.size) if weighted else None
    x = rng.normal(size=(a.size, 3)) + a[:, None] * 0.1 - b[:, None] * 0.2
    direct = Absorber.build([a, b], w).demean(x)
    monkeypatch.setattr(_linalg, "DIRECT_LEVELS", 0)  # force alternating projections
    iterated = Absorber.build([a, b], w).demean(x)
    np.testing.assert_allclose(direct, iterated, atol=1e-10)
    # The result is orthogonal (in the weights' metric) to every fixed-effect level.
    ww = np.ones(a.size) if w is None else w
    for codes in (a, b):
        sums = np.zeros((codes.max() + 1, 3))
        np.add.at(sums, codes, direct * ww[:, None])
        np.testing.assert_allclose(sums, 0.0, atol=1e-9)
