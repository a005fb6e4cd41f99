"""Boxes for DB post-processing without OpenCV, shapely or pyclipper: convex hull, minimum-area rectangle
(cv2.minAreaRect), the unclip offset of a rectangle (pyclipper, round joins) and a filled-polygon mask
(cv2.fillPoly)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Rect(NamedTuple):
    """A rotated rectangle: centre, unit axis `u` (its long side for text lines) and side lengths along
    `u` and along `u` turned by 90 degrees."""

    center: np.ndarray
    u: np.ndarray
    size_u: float
    size_v: float

    @property
    def short_side(self) -> float:
        return min(self.size_u, self.size_v)

    def corners(self) -> np.ndarray:
        """(4, 2) corners ordered top-left, top-right, bottom-right, bottom-left (PaddleOCR's get_mini_boxes)."""
        v = np.array([-self.u[1], self.u[0]])
        hu, hv = self.u * self.size_u / 2, v * self.size_v / 2
        pts = np.array([self.center - hu - hv, self.center + hu - hv, self.center + hu + hv, self.center - hu + hv])
        return order_corners(pts)

    def unclipped(self, ratio: float) -> "Rect":
        """The rectangle grown as DB's unclip grows a box: offset outwards by area * ratio / perimeter.

        pyclipper offsets the polygon with round joins; the minimum-area rectangle of that rounded shape is
        the rectangle grown by the offset on every side, which is all PaddleOCR keeps of it."""
        perimeter = 2.0 * (self.size_u + self.size_v)
        if perimeter <= 0:
            return self
        d = self.size_u * self.size_v * ratio / perimeter
        return Rect(self.center, self.u, self.size_u + 2 * d, self.size_v + 2 * d)


def _cross(o, a, b) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise (in y-down image coordinates: clockwise on screen) hull vertices, collinear points
    dropped; Andrew's monotone chain (1979)."""
    pts = [tuple(p) for p in np.unique(np.asarray(points, dtype=np.float64), axis=0)]
    if len(pts) <= 2:
        return np.array(pts, dtype=np.float64).reshape(-1, 2)

    def chain(seq):
        out: list = []
        for p in seq:
            while len(out) >= 2 and _cross(out[-2], out[-1], p) <= 0:
                out.pop()
            out.append(p)
        return out

    lower, upper = chain(pts), chain(reversed(pts))
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def min_area_rect(points: np.ndarray) -> Rect:
    """The smallest-area rectangle holding `points` (rotating calipers: one side lies on a hull edge,
    Freeman & Shapira 1975). A degenerate set (a line or a point) gives a rectangle of zero width."""
    hull = convex_hull(points)
    if len(hull) == 0:
        raise ValueError("min_area_rect of no points")
    if len(hull) < 3:
        span = hull[-1] - hull[0]
        length = float(np.hypot(*span))
        u = span / length if length > 0 else np.array([1.0, 0.0])
        return Rect((hull[0] + hull[-1]) / 2, u, length, 0.0)
    edges = np.roll(hull, -1, axis=0) - hull
    axes = edges / np.hypot(edges[:, 0], edges[:, 1])[:, None]
    normals = np.stack([-axes[:, 1], axes[:, 0]], axis=1)
    along, across = hull @ axes.T, hull @ normals.T  # (points, edges)
    lo_u, hi_u, lo_v, hi_v = along.min(0), along.max(0), across.min(0), across.max(0)
    k = int(np.argmin((hi_u - lo_u) * (hi_v - lo_v)))
    u, v = axes[k], normals[k]
    if abs(u[0]) < abs(u[1]):  # keep u the more horizontal axis, pointing right
        u, v = v, u
        lo_u, hi_u, lo_v, hi_v = lo_v, hi_v, lo_u, hi_u
    center_u, center_v = (lo_u[k] + hi_u[k]) / 2, (lo_v[k] + hi_v[k]) / 2
    sign = 1.0 if u[0] >= 0 else -1.0
    return Rect(center_u * u + center_v * v, u * sign, float(hi_u[k] - lo_u[k]), float(hi_v[k] - lo_v[k]))


def order_corners(pts: np.ndarray) -> np.ndarray:
    """Four corners as [top-left, top-right, bottom-right, bottom-left]: the two left-most are the left
    side, each side's upper point first (PaddleOCR's get_mini_boxes and order_points_clockwise)."""
    pts = np.asarray(pts, dtype=np.float64)
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]])


def polygon_mask(poly: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixels whose centres lie inside or on a convex polygon (integer vertices, as cv2.fillPoly draws
    it), as a bool (height, width) mask with (0, 0) at the polygon's frame origin."""
    yy, xx = np.mgrid[0:height, 0:width]
    poly = np.asarray(poly, dtype=np.float64)
    nxt = np.roll(poly, -1, axis=0)
    side = [(b[0] - a[0]) * (yy - a[1]) - (b[1] - a[1]) * (xx - a[0]) for a, b in zip(poly, nxt)]
    side = np.stack(side)
    return (side >= 0).all(0) | (side <= 0).all(0)
