r"""Linear-algebra kernels: fixed-effect absorption and least squares.

Fixed effects are absorbed by the method of alternating projections: each pass subtracts
the (weighted) group means of every fixed effect in turn, as one ``bincount`` over all
columns at once, until the largest change is below a tolerance. This is the
Frisch–Waugh–Lovell theorem at work: the coefficients on the remaining regressors equal
those of the regression with one dummy per fixed-effect level (Guimarães and Portugal
2010; Correia 2016).

When two or more fixed effects have few levels in all (at most :data:`DIRECT_LEVELS`,
e.g. 43 forces and 22 quarters), the projection is made directly instead:
:math:`M_D x = x - D (D'WD)^{+} D'W x`, with the pseudo-inverse of the small
:math:`L \times L` Gram matrix (the levels' masses and weighted cross-tabulations)
computed once per absorber. Alternating projections then
check the result (one pass, which moves it by less than the tolerance). On unbalanced
two-way panels this replaces hundreds of passes by one solve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # imported where used: `from soteria_eval.did import twfe` stays quick
    import scipy.sparse as sp

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Largest total number of fixed-effect levels for which :meth:`Absorber.demean` projects
#: directly through the pseudo-inverse of the levels' Gram matrix.
DIRECT_LEVELS = 600


def indicator(codes: IntArray, n_levels: int | None = None) -> sp.csr_matrix:
    """Return the sparse ``levels × N`` indicator matrix of integer codes ``0..L-1``."""
    n = codes.shape[0]
    levels = int(codes.max()) + 1 if n_levels is None else n_levels
    import scipy.sparse as sp

    return sp.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(levels, n))


def group_sums(codes: IntArray, x: FloatArray, n_levels: int) -> FloatArray:
    """Return the ``n_levels × k`` sums of the rows of ``x`` (N×k) by level code.

    One ``bincount`` over all columns at once (the row's code times ``k`` plus its column).
    """
    k = x.shape[1]
    if k == 1:
        sums = np.bincount(codes, weights=x[:, 0], minlength=n_levels)
    else:
        flat = (codes[:, None] * k + np.arange(k)).ravel()
        sums = np.bincount(flat, weights=x.ravel(), minlength=n_levels * k)
    return np.asarray(sums, dtype=np.float64).reshape(n_levels, k)


@dataclass(frozen=True)
class Absorber:
    """Precomputed group structure for absorbing fixed effects.

    Parameters
    ----------
    codes : sequence of int arrays
        One array of level codes (0-based) per fixed effect.
    weights : array, optional
        Observation weights.
    """

    codes: tuple[IntArray, ...]
    weights: FloatArray | None
    _levels: tuple[int, ...]
    _mass: tuple[FloatArray, ...]
    _inv_mass: tuple[FloatArray, ...]
    _direct: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, codes: Sequence[IntArray], weights: FloatArray | None = None) -> Absorber:
        """Prepare the (weighted) group sizes of every fixed effect."""
        levels, masses, inv = [], [], []
        for c in codes:
            n_lev = int(c.max()) + 1 if c.size else 0
            mass = np.bincount(c, weights=weights, minlength=n_lev).astype(float)
            levels.append(n_lev)
            masses.append(mass)
            with np.errstate(divide="ignore"):
                inv.append(np.where(mass > 0, 1.0 / mass, 0.0))
        as_int = tuple(np.asarray(c, dtype=np.int64) for c in codes)
        return cls(as_int, weights, tuple(levels), tuple(masses), tuple(inv))

    @property
    def n_levels(self) -> tuple[int, ...]:
        """Number of levels of each fixed effect."""
        return self._levels

    def demean(self, x: FloatArray, tol: float = 1e-13, max_iter: int = 10_000) -> FloatArray:
        """Return ``x`` (N or N×k) with every fixed effect projected out."""
        if not self.codes:
            return np.array(x, dtype=float, copy=True)
        out = np.array(x, dtype=float, copy=True)
        flat = out.ndim == 1
        if flat:
            out = out[:, None]
        w = self.weights
        scale = max(float(np.max(np.abs(out))), 1.0) if out.size else 1.0
        if len(self.codes) >= 2 and sum(self.n_levels) <= DIRECT_LEVELS and out.size:
            g_pinv = self._direct_pinv()
            wx = out if w is None else out * w[:, None]
            sums = np.vstack(
                [group_sums(c, wx, n) for c, n in zip(self.codes, self._levels, strict=True)]
            )
            coef = g_pinv @ sums
            at = 0
            for c, n in zip(self.codes, self._levels, strict=True):
                out -= coef[at : at + n][c]
                at += n
        for _ in range(max_iter):
            biggest = 0.0
            for c, n, inv in zip(self.codes, self._levels, self._inv_mass, strict=True):
                wx = out if w is None else out * w[:, None]
                means = group_sums(c, wx, n) * inv[:, None]
                step = means[c]
                out -= step
                biggest = max(biggest, float(np.max(np.abs(step))) if step.size else 0.0)
            if len(self.codes) == 1 or biggest <= tol * scale:
                break
        else:  # pragma: no cover - only for pathological designs
            raise RuntimeError("fixed-effect absorption did not converge")
        return out[:, 0] if flat else out

    def _direct_pinv(self) -> FloatArray:
        """Pseudo-inverse of the levels' (weighted) Gram matrix ``D'WD``.

        Its diagonal blocks are the levels' masses; the block of two fixed effects is their
        weighted cross-tabulation (one ``bincount`` each).
        """
        if "g_pinv" not in self._direct:
            sizes = self._levels
            offs = np.concatenate([[0], np.cumsum(sizes)])
            gram = np.zeros((offs[-1], offs[-1]))
            for i, (ci, ni) in enumerate(zip(self.codes, sizes, strict=True)):
                gram[offs[i] : offs[i + 1], offs[i] : offs[i + 1]] = np.diag(self._mass[i])
                for j in range(i + 1, len(sizes)):
                    cj, nj = self.codes[j], sizes[j]
                    cross = np.bincount(ci * nj + cj, weights=self.weights, minlength=ni * nj)
                    block = cross.reshape(ni, nj)
                    gram[offs[i] : offs[i + 1], offs[j] : offs[j + 1]] = block
                    gram[offs[j] : offs[j + 1], offs[i] : offs[i + 1]] = block.T
            vals, vecs = np.linalg.eigh(gram)
            keep = vals > vals.max() * 1e-12
            self._direct["g_pinv"] = (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T
        out: FloatArray = self._direct["g_pinv"]  # type: ignore[assignment]
        return out

    def dof(self) -> int:
        """Degrees of freedom used by the fixed effects (levels minus redundancies).

        For one fixed effect this is its number of levels; for two or more, one level per
        extra fixed effect and connected component is redundant (Abowd, Creecy and Kramarz
        2002). Computed exactly as the rank of the stacked indicator matrix.
        """
        if not self.codes:
            return 0
        if len(self.codes) == 1:
            return self.n_levels[0]
        import scipy.sparse as sp

        # Rank of D = total levels - dim(null space); the null space of two-way indicators
        # has one dimension per connected component of the bipartite graph.
        if len(self.codes) == 2:
            from scipy.sparse.csgraph import connected_components

            a, b = self.codes
            la, lb = self.n_levels
            g = sp.csr_matrix((np.ones(a.shape[0]), (a, b + la)), shape=(la + lb, la + lb))
            n_comp, _ = connected_components(g, directed=False)
            return int(la + lb - n_comp)
        d = sp.vstack([indicator(c, n) for c, n in zip(self.codes, self._levels, strict=True)])
        return int(np.linalg.matrix_rank(d.T.toarray()))  # pragma: no cover - three-way FE


def collinear_columns(x: FloatArray, names: Sequence[str], rtol: float = 1e-10) -> list[str]:
    """Return the names of columns that are (near) linear combinations of earlier ones."""
    if x.shape[1] == 0:
        return []
    _, r = np.linalg.qr(x, mode="reduced")
    diag = np.abs(np.diag(r))
    norms = np.linalg.norm(x, axis=0)
    bad = diag <= rtol * np.maximum(norms, 1.0)
    return [n for n, b in zip(names, bad, strict=True) if b]


def solve_ols(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Least squares by Cholesky of ``X'X``: return ``(beta, (X'X)^-1)``."""
    from scipy.linalg import cho_factor, cho_solve

    factor = cho_factor(x.T @ x)
    bread = cho_solve(factor, np.eye(x.shape[1]))
    beta = cho_solve(factor, x.T @ y)
    return np.asarray(beta, dtype=float), np.asarray(bread, dtype=float)
