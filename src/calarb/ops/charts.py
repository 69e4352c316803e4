"""Charts and the HTML page of a report (a backtest's, a live run's, a sweep's): interactive
plotly figures in one offline page. plotly.js is written once beside the page
(`plotly.min.js`, from the installed plotly package), never fetched from a CDN, so a report
folder opens anywhere without a network.

A page has the title, an introduction, the summary table, the figures (zoom, pan, hover
values), any further tables (positions, attribution, blotter) and the details as JSON.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

__all__ = [
    "PLOTLY_JS", "go", "heatmap_page", "new_figure", "seconds", "table_html", "write_html_report",
]  # fmt: skip

PLOTLY_JS = "plotly.min.js"


def seconds(ns) -> np.ndarray:
    """Nanoseconds as float seconds (an axis of a chart)."""
    return np.asarray(ns, dtype=np.float64) / 1e9


def new_figure(title: str, x_title: str = "", y_title: str = "", height: int = 340) -> go.Figure:
    """An empty figure in the reports' style."""
    figure = go.Figure()
    figure.update_layout(
        title=title, height=height, margin={"l": 60, "r": 20, "t": 50, "b": 45},
        template="plotly_white", legend={"orientation": "h", "y": -0.25},
    )  # fmt: skip
    figure.update_xaxes(title_text=x_title)
    figure.update_yaxes(title_text=y_title)
    return figure


def table_html(frame: pd.DataFrame, limit: int | None = None, floats: str = "{:,.2f}") -> str:
    """A table as HTML (the first `limit` rows, saying how many more there are)."""
    shown = frame if limit is None else frame.head(limit)
    formatters = {c: floats.format for c in shown.columns if shown[c].dtype.kind == "f"}
    text = shown.to_html(index=False, border=0, formatters=formatters, na_rep="")
    if limit is not None and len(frame) > limit:
        text += f"<p>first {limit:,} of {len(frame):,} rows</p>"
    return text


def _write_plotly_js(directory: Path) -> None:
    from plotly.offline import get_plotlyjs

    path = directory / PLOTLY_JS
    script = get_plotlyjs()
    if not path.exists() or path.stat().st_size != len(script.encode()):
        path.write_text(script)


def write_html_report(
    directory: Path,
    title: str,
    rows: Iterable[tuple[str, object]],
    figures: Mapping[str, go.Figure],
    details: str,
    *,
    intro: str = "",
    align: str = "left",
    tables: Mapping[str, str] | None = None,
) -> Path:
    """`report.html` in `directory`: the title, `intro` (HTML), the summary table of `rows`
    (cells aligned `align`), the interactive `figures`, the `tables` (name -> HTML) and
    `details` (preformatted text); plotly.js beside it. Returns the page's path."""
    directory.mkdir(parents=True, exist_ok=True)
    _write_plotly_js(directory)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<script src='{PLOTLY_JS}'></script>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        f"td,th{{padding:2px 8px;text-align:{align}}}"
        "table.dataframe td{text-align:right}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>{intro}<h2>Summary</h2><table>",
        *(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows),
        "</table>",
    ]
    for name, figure in figures.items():
        parts.append(
            figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"figure-{name}")
        )
    for name, table in (tables or {}).items():
        parts.append(f"<h2>{html.escape(name)}</h2>{table}")
    parts.append(f"<h2>Details</h2><pre>{html.escape(details)}</pre></body></html>")
    path = directory / "report.html"
    path.write_text("\n".join(parts))
    return path


def heatmap_page(
    directory: Path, stem: str, title: str, grid: pd.DataFrame, rows: str, columns: str,
    note: str = "",
) -> Path:  # fmt: skip
    """`<stem>.html`: a heatmap of `grid` (index: `rows`, columns: `columns`) with each
    cell's value written in it (empty: no value); plotly.js beside it."""
    values = grid.to_numpy(dtype=float)
    text = [["" if v != v else f"{v:,.2f}" for v in row] for row in values]
    figure = new_figure(title, columns, rows, height=420)
    figure.add_heatmap(
        z=values, x=[str(c) for c in grid.columns], y=[str(i) for i in grid.index],
        text=text, texttemplate="%{text}", colorscale="RdYlGn", hoverongaps=False,
    )  # fmt: skip
    figure.update_xaxes(type="category")
    figure.update_yaxes(type="category")
    directory.mkdir(parents=True, exist_ok=True)
    _write_plotly_js(directory)
    path = directory / f"{stem}.html"
    body = figure.to_html(full_html=False, include_plotlyjs=False)
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<script src='{PLOTLY_JS}'></script></head><body>{body}"
        f"<p>{html.escape(note)}</p></body></html>"
    )
    return path
