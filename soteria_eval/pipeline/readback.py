"""Read the values a matplotlib SVG draws back from its paths, as a hostile reader would.

A figure leaks what it draws, not what its caption says: a reader can take the SVG,
read each line's vertices, and map them to data units with the axis ticks. This module
does exactly that, so a run can check that a figure draws nothing but the data it
declares (its data file, which the disclosure check has seen): see
:func:`drawn_but_undeclared`, called on every figure a run writes.

For each axes of the figure, the numeric tick labels (matplotlib writes each label as a
``<!-- label -->`` comment) and the tick marks' positions give the map from pixels to
data units; the scale is linear or logarithmic, whichever fits the ticks exactly. The
values read are the vertices of lines, filled bands and error bars, marker positions and
the corners of bars, on the value axis (the y axis, or the x axis when y is categorical).
Points on the edge of the axes (lines spanning the axes, such as a vertical marker of a
start date) are not data and are skipped; so are legends and the tick marks themselves.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_POWER = re.compile(r"(?:(\d+(?:\.\d+)?)\\times)?10\^\{(-?\d+)\}")
#: Groups whose paths draw data.
_DATA_GROUPS = ("line2d_", "PolyCollection_", "FillBetweenPolyCollection_", "LineCollection_",
                "PathCollection_", "patch_")  # fmt: skip


@dataclass
class AxesValues:
    """Values read from one axes: ``axis`` is ``"y"`` or ``"x"``; ``scale`` linear or log."""

    axis: str
    scale: str
    limits: tuple[float, float]
    values: list[float] = field(default_factory=list)

    @property
    def span(self) -> float:
        """Width of the axis in data units (in log10 units for a log axis)."""
        lo, hi = self.limits
        if self.scale == "log":
            return abs(math.log10(hi) - math.log10(lo))
        return abs(hi - lo)


def _parse(path: Path) -> ET.Element:
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    return ET.parse(path, parser=parser).getroot()


def _label_value(text: str) -> float | None:
    text = text.strip().replace("\u2212", "-").replace(",", "").rstrip("%")
    power = _POWER.search(text)
    if power:  # matplotlib's log labels: 10^{k} and, on minor ticks, a\times10^{k}
        return float(power.group(1) or 1) * 10.0 ** int(power.group(2))
    return float(text) if _NUMBER.fullmatch(text) else None


def _points(d: str) -> list[tuple[float, float]]:
    """Vertices of an SVG path of absolute M/L/Q/C commands (matplotlib writes only those)."""
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", d)]
    return list(zip(nums[0::2], nums[1::2], strict=False))


def _is_comment(node: ET.Element) -> bool:
    """Whether a parsed node is a comment (matplotlib writes each label as one)."""
    tag: object = node.tag
    return tag is ET.Comment


def _ticks(axes: ET.Element, which: str) -> list[tuple[float, float | None]]:
    """(pixel, value) of the ticks of the x or y axis of one axes group (None: no label)."""
    out: list[tuple[float, float | None]] = []
    for tick in axes.iter(SVG + "g"):
        if not tick.get("id", "").startswith(f"{which}tick_"):
            continue
        pos = label = None
        for use in tick.iter(SVG + "use"):
            pos = float(use.get("y" if which == "y" else "x", "nan"))
            break
        for text in tick.iter(SVG + "g"):
            if text.get("id", "").startswith("text_"):
                for child in text:
                    if _is_comment(child) and child.text:
                        label = _label_value(child.text)
        if pos is not None:
            out.append((pos, label))
    return out


def _scale(ticks: list[tuple[float, float | None]]) -> tuple[str, np.ndarray] | None:
    """Fit pixel = a + b * value (linear) or a + b * log10(value); return the exact one.

    Two labelled ticks fit both scales; the unlabelled (minor) ticks decide then: on a
    log axis they fall on whole multiples of a power of ten (2, 3, ..., 9 x 10^k).
    """
    labelled = [(p, v) for p, v in ticks if v is not None]
    if len({p for p, _ in labelled}) < 2:
        return None
    px = np.array([p for p, _ in labelled])
    val = np.array([v for _, v in labelled])
    fits = []
    for name, x in [("linear", val)] + ([("log", np.log10(val))] if (val > 0).all() else []):
        coef = np.polyfit(x, px, 1)
        if np.abs(np.polyval(coef, x) - px).max() < 0.05:  # pixels
            fits.append((name, coef))
    if len(fits) == 2:
        minor = np.array([p for p, v in ticks if v is None])
        on_log = False
        if minor.size:
            coef = fits[1][1]
            mapped = 10.0 ** ((minor - coef[1]) / coef[0])
            mantissa = mapped / 10.0 ** np.floor(np.log10(mapped) + 1e-9)
            on_log = bool(np.all(np.abs(mantissa - np.round(mantissa)) < 1e-3))
        return fits[1] if on_log else fits[0]
    return fits[0] if fits else None


def _to_data(
    pixels: NDArray[np.float64], scale: str, coef: NDArray[np.float64]
) -> NDArray[np.float64]:
    x: NDArray[np.float64] = (pixels - coef[1]) / coef[0]
    return np.power(10.0, x) if scale == "log" else x


def _axes_box(axes: ET.Element) -> tuple[float, float, float, float] | None:
    """(x0, x1, y0, y1) of the axes background patch."""
    for g in axes:
        if g.tag == SVG + "g" and g.get("id", "").startswith("patch_"):
            for p in g.iter(SVG + "path"):
                pts = _points(p.get("d", ""))
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    return min(xs), max(xs), min(ys), max(ys)
    return None


def read_axes(axes: ET.Element) -> AxesValues | None:
    """Read the values one axes draws on its value axis, in data units (None: no value axis)."""
    fit_y, fit_x = _scale(_ticks(axes, "y")), _scale(_ticks(axes, "x"))
    which, fit = ("y", fit_y) if fit_y is not None else ("x", fit_x)
    box = _axes_box(axes)
    if fit is None or box is None:
        return None
    scale, coef = fit
    index = 1 if which == "y" else 0
    lo_px, hi_px = (box[2], box[3]) if which == "y" else (box[0], box[1])
    limits = tuple(sorted(_to_data(np.array([lo_px, hi_px]), scale, coef).tolist()))
    out = AxesValues(which, scale, (limits[0], limits[1]))
    first_patch = True
    for g in axes:
        gid = g.get("id", "")
        if g.tag != SVG + "g" or not gid.startswith(_DATA_GROUPS):
            continue
        if gid.startswith("patch_") and first_patch:  # the axes background
            first_patch = False
            continue
        pixels: list[float] = []
        for p in g.iter(SVG + "path"):
            if p.get("id"):  # a marker's definition, drawn by <use> elements
                continue
            pixels += [pt[index] for pt in _points(p.get("d", ""))]
        for use in g.iter(SVG + "use"):
            pixels.append(float(use.get(which, "nan")))
        px = np.array([v for v in pixels if lo_px + 0.01 < v < hi_px - 0.01])
        if px.size:
            out.values += _to_data(px, scale, coef).tolist()
    return out


def read_svg(path: str | Path) -> list[AxesValues]:
    """Values drawn in every axes of a matplotlib SVG (axes without a numeric axis skipped)."""
    root = _parse(Path(path))
    found = []
    for g in root.iter(SVG + "g"):
        if g.get("id", "").startswith("axes_"):
            values = read_axes(g)
            if values is not None:
                found.append(values)
    return found


def undeclared(
    axes: AxesValues, declared: NDArray[np.float64], rel_tol: float = 0.004
) -> list[float]:
    """Drawn values that match no declared value (0 counts as declared: reference lines).

    A value matches when it is within ``rel_tol`` of the axis span (log10 span on a log
    axis) of a declared value; that is about a pixel on a figure 3 to 4 inches high.
    """
    ref = np.concatenate([declared[np.isfinite(declared)], [0.0]])
    tol = rel_tol * axes.span
    vals = np.array(axes.values)
    if axes.scale == "log":
        ref = np.log10(ref[ref > 0])
        vals = np.log10(vals)
    dist = np.abs(vals[:, None] - ref[None, :]).min(axis=1)
    return [float(v) for v, d in zip(axes.values, dist, strict=True) if d > tol]


def drawn_but_undeclared(svg: str | Path, data: pd.DataFrame | None) -> list[float]:
    """Values an SVG figure draws that are not among its declared data's numbers.

    Empty when every value read back (:func:`read_svg`) matches a number of ``data`` (or
    0); a figure with no declared data declares nothing, so all it draws is returned.
    """
    declared = (
        data.select_dtypes("number").to_numpy(dtype=float).ravel()
        if data is not None
        else np.zeros(0)
    )
    return [v for axes in read_svg(svg) for v in undeclared(axes, declared)]


__all__ = ["AxesValues", "drawn_but_undeclared", "read_svg", "undeclared"]
