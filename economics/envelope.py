"""Upper concave envelope Psi~ of the achievable (acceptance, damage) pairs and the price curve c_eta.

A noise law g mixes radii, so (E_g p, E_g h) ranges over the convex hull of the curve {(p(r), h(r))} and
(0, 0) (a report so far off it is always rejected). Psi~(alpha) is the top of that hull.
"""

import numpy as np

ORIGIN = -1
"""Vertex index of the added point (0, 0); index -1 of an array extended by one entry picks that entry."""


def upper_envelope(p: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Indices (into p, h; ORIGIN for (0, 0)) of the vertices of the upper concave envelope of {(p_i, h_i)} and
    (0, 0) over alpha in [0, max p], in increasing alpha (Andrew's monotone chain, upper half).
    Points with p <= 0 are dropped: they cannot lie above the origin except by rounding."""
    keep = np.flatnonzero(p > 0)
    order = keep[np.lexsort((h[keep], p[keep]))]
    xs, ys = np.concatenate([[0.0], p[order]]).tolist(), np.concatenate([[0.0], h[order]]).tolist()
    hull = [0]
    for k in range(1, len(xs)):
        # pop while the last vertex is on or below the chord to the new point (no right turn)
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            if (xs[a] - xs[o]) * (ys[k] - ys[o]) - (ys[a] - ys[o]) * (xs[k] - xs[o]) >= 0:
                hull.pop()
            else:
                break
        hull.append(k)
    return np.concatenate([[ORIGIN], order[np.asarray(hull[1:], dtype=int) - 1]]).astype(int)


def vertices(p: np.ndarray, h: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, Psi~) at the envelope vertices `index`, the origin included."""
    return np.append(p, 0.0)[index], np.append(h, 0.0)[index]


def price(alpha: np.ndarray, alpha_v: np.ndarray, psi_v: np.ndarray, scale: float) -> np.ndarray:
    """c_eta(alpha) = scale * Psi~(alpha) / alpha: the largest MSE the adversary can get while being accepted with
    probability alpha (scale 1/4 for the two-node h = E||n + z||^2 1{...}; 1 for an error-valued kernel).
    Non-increasing because Psi~ is concave with Psi~(0) = 0; undefined (nan) beyond max p."""
    alpha = np.asarray(alpha, dtype=float)
    psi = np.interp(alpha, alpha_v, psi_v, right=np.nan)
    return scale * psi / alpha
