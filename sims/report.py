"""What a chain-backed run directory shows besides the tables: gas per round and phase, and report.html (the
summary, gas per phase and every plot inline, self-contained)."""
from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd


def gas_plot(gas: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for phase, sub in gas.groupby("phase", sort=False):
        ax.plot(sub["round"], sub["gas"], lw=1.0, label=phase)
    ax.set_xlabel("round")
    ax.set_ylabel("gas used")
    ax.set_title("gas per round and phase")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def page(out: Path, tables, plots: list[Path], summary: dict[str, object], title: str, intro: str,
         extra: str = "") -> Path:
    """report.html: a short self-contained page with the summary, mean gas per phase, any `extra` HTML, and every
    plot inline."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items())
    gas = tables["gas"].groupby("phase", sort=False)["gas"].agg(["mean", "max"]).round(0).astype(int)
    gas_rows = "".join(f"<tr><th>{html.escape(p)}</th><td>{r['mean']:,}</td><td>{r['max']:,}</td></tr>"
                       for p, r in gas.iterrows())
    images = "".join(f"<figure><img src='data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}'>"
                     f"<figcaption>{html.escape(p.stem)}</figcaption></figure>" for p in plots)
    text = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}table{{border-collapse:collapse}}
th,td{{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}}figure{{display:inline-block;margin:4px}}
img{{width:460px}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{intro}</p>
<table>{rows}</table><h2>gas per phase</h2><table><tr><th>phase</th><th>mean</th><th>max</th></tr>{gas_rows}</table>
{extra}<h2>plots</h2>{images}</body></html>"""
    path = out / "report.html"
    path.write_text(text)
    return path
