"""Confidence intervals for the realised play: Wilson's for a proportion, Student's t for a mean."""
from __future__ import annotations

import numpy as np
from scipy import stats


def wilson(k: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of k successes in n trials (NaN where n = 0): unlike the normal approximation it
    stays inside [0, 1] and keeps its coverage near 0 and 1, where acceptance rates of strict thresholds sit."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    z = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def t_interval(mean: np.ndarray, sd: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Student's t interval of a mean from its sample sd and size (NaN for n < 2). Squared errors of accepted
    rounds are independent given eta (fresh honest and adversarial noise each round), so the CLT applies."""
    n = np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.5 + level / 2, np.where(n > 1, n - 1, np.nan)) * np.asarray(sd) / np.sqrt(n)
    return mean - half, mean + half
