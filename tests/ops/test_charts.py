"""The report page shared by the backtest and live reports."""

from __future__ import annotations

import base64

from calarb.ops.charts import plt, png, seconds, write_html_report


def test_png_closes_the_figure_and_seconds_scale_nanoseconds():
    figure, axis = plt.subplots()
    axis.plot(seconds([0, 1_500_000_000]), [0, 1])
    image = png(figure)
    assert image.startswith(b"\x89PNG") and not plt.get_fignums()
    assert seconds([2_000_000_000]).tolist() == [2.0]


def test_the_page_embeds_the_images_and_escapes_the_text(tmp_path):
    images = {"equity": b"\x89PNG one", "pair_A_B": b"\x89PNG two"}
    path = write_html_report(
        tmp_path, "calarb <run>", [("fills", "1,024"), ("a&b", 3)], images, '{"x": "<y>"}',
        intro="<p>source</p>\n", align="right",
    )  # fmt: skip
    page = path.read_text()
    assert path == tmp_path / "report.html"
    assert page.startswith(
        "<!doctype html><html><head><meta charset='utf-8'><title>calarb &lt;run&gt;</title>\n"
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
        "td,th{padding:2px 8px;text-align:right}</style></head><body>\n"
        "<h1>calarb &lt;run&gt;</h1><p>source</p>\n<h2>Summary</h2><table>\n"
        "<tr><th>fills</th><td>1,024</td></tr>\n<tr><th>a&amp;b</th><td>3</td></tr>\n</table>\n"
    )
    for name, image in images.items():
        assert (tmp_path / f"{name}.png").read_bytes() == image
        assert f"src='data:image/png;base64,{base64.b64encode(image).decode()}'" in page
    assert page.endswith("<h2>Details</h2><pre>{&quot;x&quot;: &quot;&lt;y&gt;&quot;}</pre></body></html>")
