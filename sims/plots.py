"""Plots of long-format round tables: mean +- 1 std bands per group, one PNG each."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _order(groups) -> list:
    """VISTA variants first, then the rest in numeric (else text) order, so colours are stable across plots."""
    def key(g):
        try:
            return (not str(g).startswith("vista"), float(str(g).split("=")[-1]), str(g))
        except ValueError:
            return (not str(g).startswith("vista"), float("inf"), str(g))
    return sorted(groups, key=key)


def finish(fig, ax_legend, path: Path, dpi: int = 110, fontsize: int = 8) -> Path:
    """Grid and legend on the given axes, then lay out, write the PNG and free the figure."""
    ax_legend.grid(alpha=0.3)
    ax_legend.legend(fontsize=fontsize)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def band_plot(frame: pd.DataFrame, y: str, path: Path, *, by: str = "method", x: str = "round",
              logy: bool = False, logx: bool = False, title: str = "", ylabel: str | None = None, smooth: int = 1) -> Path:
    """Mean of `y` over runs against `x` for each `by` group, with a +-1 std band (log scale: geometric band)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for group in _order(frame[by].unique()):
        sub = frame[frame[by] == group]
        wide = sub.pivot_table(index=x, columns="run", values=y, aggfunc="mean")
        if smooth > 1:
            wide = wide.rolling(smooth, min_periods=1).mean()
        vals = wide.to_numpy(dtype=float)
        if logy:
            logs = np.log10(np.maximum(vals, 1e-300))
            mu, sd = np.nanmean(logs, axis=1), np.nanstd(logs, axis=1)
            mid, lo, hi = 10**mu, 10 ** (mu - sd), 10 ** (mu + sd)
        else:
            mid, sd = np.nanmean(vals, axis=1), np.nanstd(vals, axis=1)
            lo, hi = mid - sd, mid + sd
        (line,) = ax.plot(wide.index, mid, label=str(group), lw=1.6 if str(group).startswith("vista") else 1.0)
        ax.fill_between(wide.index, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or y)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
