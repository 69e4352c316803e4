"""Charts and the HTML page of a report (a backtest's, a live run's): matplotlib drawing off
screen (`plt`, the Agg backend), figures as PNG bytes, and one page with the summary table,
the PNGs embedded as base64 and the details as JSON."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plt", "png", "seconds", "write_html_report"]


def png(figure) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def seconds(ns) -> np.ndarray:
    """Nanoseconds as float seconds (an axis of a chart)."""
    return np.asarray(ns, dtype=np.float64) / 1e9


def write_html_report(
    directory: Path,
    title: str,
    rows: Iterable[tuple[str, object]],
    images: Mapping[str, bytes],
    details: str,
    *,
    intro: str = "",
    align: str = "left",
) -> Path:
    """Write each image as `<name>.png` in `directory` and `report.html`: the title, `intro`
    (HTML), the summary table of `rows` (cells aligned `align`), the images and `details`
    (preformatted text). Returns the page's path."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
        f"td,th{{padding:2px 8px;text-align:{align}}}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>{intro}<h2>Summary</h2><table>",
        *(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows),
        "</table>",
    ]
    for name, image in images.items():
        (directory / f"{name}.png").write_bytes(image)
        encoded = base64.b64encode(image).decode("ascii")
        parts.append(
            f"<h2>{html.escape(name)}</h2><img alt='{name}' src='data:image/png;base64,{encoded}'>"
        )
    parts.append(f"<h2>Details</h2><pre>{html.escape(details)}</pre></body></html>")
    path = directory / "report.html"
    path.write_text("\n".join(parts))
    return path
