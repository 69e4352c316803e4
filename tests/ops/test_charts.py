"""The report page shared by the backtest, live and sweep reports: interactive plotly
figures, offline (plotly.js written beside the page, no CDN), text escaped."""

from __future__ import annotations

import pandas as pd

from calarb.ops.charts import PLOTLY_JS, heatmap_page, new_figure, seconds, write_html_report
from calarb.ops.tables import positions_table, text_table


def test_seconds_scale_nanoseconds():
    assert seconds([2_000_000_000, 500_000_000]).tolist() == [2.0, 0.5]


def test_the_page_holds_the_figures_offline_and_escapes_the_text(tmp_path):
    figure = new_figure("equity", "time (s)", "P&L")
    figure.add_scatter(x=[0, 1, 2], y=[0.0, 1.5, -2.25], name="net")
    path = write_html_report(
        tmp_path, "calarb <run>", [("fills", "1,024"), ("a&b", 3)], {"equity": figure},
        '{"x": "<y>"}', intro="<p>source</p>\n", align="right",
        tables={"Blotter <all>": "<table><tr><td>1</td></tr></table>"},
    )  # fmt: skip
    page = path.read_text()
    assert path == tmp_path / "report.html"
    assert "<title>calarb &lt;run&gt;</title>" in page
    assert "<tr><th>fills</th><td>1,024</td></tr>\n<tr><th>a&amp;b</th><td>3</td></tr>" in page
    assert f"<script src='{PLOTLY_JS}'></script>" in page
    assert "cdn" not in page.lower() and "https://" not in page
    script = (tmp_path / PLOTLY_JS).read_text()
    assert len(script) > 1_000_000 and "plotly" in script[:2000].lower()
    assert 'id="figure-equity"' in page and "-2.25" in page  # the data is in the page
    assert "<h2>Blotter &lt;all&gt;</h2><table>" in page
    assert page.endswith(
        "<h2>Details</h2><pre>{&quot;x&quot;: &quot;&lt;y&gt;&quot;}</pre></body></html>"
    )


def test_heatmap_cells_carry_their_values(tmp_path):
    grid = pd.DataFrame([[1.5, -2.0], [float("nan"), 1234.5]], index=[1, 2], columns=[10, 20])
    path = heatmap_page(tmp_path, "heatmap_pnl_net", "pnl_net", grid, "entry", "window", "note")
    page = path.read_text()
    assert '"texttemplate":"%{text}"' in page
    assert '"text":[["1.50","-2.00"],["","1,234.50"]]' in page
    assert (tmp_path / PLOTLY_JS).is_file() and "<p>note</p>" in page


def test_text_tables_align_numbers_and_say_flat():
    text = text_table(("symbol", "shares"), [("AAA", -185), ("CCCC", 3600)])
    assert text.splitlines() == ["  symbol  shares", "  AAA       -185", "  CCCC     3,600"]
    assert positions_table({"AAA": 0}) == "  flat (no position)"
    marked = positions_table({"AAA": -100, "BBB": 0}, {"AAA": 40.25})
    assert marked.splitlines() == [
        "  symbol  shares   mark  market value",
        "  AAA       -100  40.25     -4,025.00",
    ]
