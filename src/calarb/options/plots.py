"""The HTML report of `calarb options fit`: the smile of each expiry (market and model) and the
model's surface, as inline SVG drawn by matplotlib."""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()[buffer.getvalue().index("<svg") :]


def write_fit_html(path: Path, title: str, k, time, vol, model_vol, summary: dict) -> None:
    """`model_vol(k_array, t)` gives the fitted vols of expiry t; k, time, vol the market."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k, time, vol = (np.asarray(v, float) for v in (k, time, vol))
    expiries = np.unique(time)
    grid = np.linspace(k.min(), k.max(), 101)
    columns = min(4, expiries.size)
    rows = -(-expiries.size // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    for axis, t in zip(axes.flat, expiries, strict=False):
        at = time == t
        axis.plot(k[at], 100 * vol[at], "o", ms=3, label="market")
        axis.plot(grid, 100 * model_vol(grid, t), "-", label="model")
        axis.set_title(f"T = {t:.3f} y", fontsize=9)
        axis.set_xlabel("ln(K/F)", fontsize=8)
        axis.set_ylabel("vol (%)", fontsize=8)
    for axis in list(axes.flat)[expiries.size :]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7)
    smiles = _svg(figure)
    plt.close(figure)

    surface = np.array([model_vol(grid, t) for t in expiries])
    figure, axis = plt.subplots(figsize=(7, 4))
    mesh = axis.pcolormesh(grid, expiries, 100 * surface, shading="auto")
    figure.colorbar(mesh, label="model vol (%)")
    axis.set_xlabel("ln(K/F)")
    axis.set_ylabel("T (years)")
    surface_svg = _svg(figure)
    plt.close(figure)

    rows_html = "".join(
        f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>"
        for key, value in summary.items()
        if key != "parameters"
    )
    Path(path).write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1><table>{rows_html}</table>"
        f"<h2>Smiles</h2>{smiles}<h2>Surface</h2>{surface_svg}</body></html>"
    )
