"""report.html: one self-contained page (tables, and every PNG inlined as a base64 data URI)."""
from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

STYLE = """body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:13px}th,td{padding:2px 8px;border-bottom:1px solid #ddd;
text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}figure{margin:6px 0}
img{max-width:100%}.bad{color:#b00;font-weight:bold}.good{color:#070;font-weight:bold}p.note{font-size:13px;color:#555}"""


def table(frame: pd.DataFrame, digits: int = 4) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.{digits}g}", border=0, na_rep="-")


def image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (f"<figure><img alt='{html.escape(path.stem)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(path.name)}</figcaption></figure>")


def page(title: str, sections: list[str]) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>")
