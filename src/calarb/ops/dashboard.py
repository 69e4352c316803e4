"""The live dashboard: a Starlette app on the engine's loop, state pushed by server-sent events.

Routes:
- `GET /`: the page (static files in `calarb/ops/static`); `GET /static/plotly.min.js`: the
  plotly.js bundled with the installed `plotly` package (the page needs no network).
- `GET /api/state`: the latest snapshot; `GET /api/history`: the bounded history (P&L,
  z-scores, hedge ratios, trade marks) for a page opened mid-run.
- `GET /api/events`: server-sent events, one `state` event per snapshot (every
  `push_interval_ms`), each carrying the new history points.
- `POST /api/kill`, `POST /api/pairs/{pair}/halt|resume`: controls; the token in the
  `Authorization: Bearer <token>` header, else 401 and nothing changes.

Snapshots are built by `OpsService` (one per interval, shared by every client): the page
costs the engine one read per interval, whatever the number of browsers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import math
from collections import deque
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

STATIC = resources.files("calarb.ops") / "static"


def plotly_js_path() -> Path:
    """plotly.js as bundled in the installed plotly package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the plotly package ({path})")
    return path


def finite(value: Any) -> Any:
    """NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


class DashboardHistory:
    """Bounded series for the charts, appended once per snapshot: P&L, each pair's z-score
    and hedge ratio, and the pair trades (fills) marked on the z-score."""

    def __init__(self, pairs: list[str], points: int) -> None:
        self.points = points
        self.time_s: deque[float] = deque(maxlen=points)
        self.pnl: dict[str, deque[float]] = {
            k: deque(maxlen=points) for k in ("net", "realized", "unrealized", "fees")
        }
        self.pairs = {
            name: {"time_s": deque(maxlen=points), "z": deque(maxlen=points),
                   "hedge_ratio": deque(maxlen=points)}
            for name in pairs
        }  # fmt: skip
        self.trades: dict[str, deque[dict[str, Any]]] = {n: deque(maxlen=points) for n in pairs}

    def add(self, t: float, snapshot: dict[str, Any], new_fills: list[dict[str, Any]]) -> dict:
        """Append one snapshot's points; the points added (pushed to open pages)."""
        self.time_s.append(t)
        for key, series in self.pnl.items():
            series.append(snapshot["pnl"][key])
        points: dict[str, Any] = {"time_s": t, "pnl": dict(snapshot["pnl"]), "pairs": {}}
        for name, pair in snapshot["pairs"].items():
            series = self.pairs[name]
            series["time_s"].append(t)
            series["z"].append(pair["z"])
            series["hedge_ratio"].append(pair["hedge_ratio"])
            points["pairs"][name] = {"z": pair["z"], "hedge_ratio": pair["hedge_ratio"],
                                     "trades": []}  # fmt: skip
        for fill in new_fills:
            pair = fill["tag"].split(":", 1)[0] if fill["tag"] else ""
            if pair in self.trades:
                z = snapshot["pairs"][pair]["z"]
                mark = {"time_s": fill["time_s"], "z": z, "side": fill["side"],
                        "symbol": fill["symbol"], "quantity": fill["quantity"]}  # fmt: skip
                self.trades[pair].append(mark)
                points["pairs"][pair]["trades"].append(mark)
        return points

    def as_dict(self) -> dict[str, Any]:
        return finite(
            {
                "time_s": list(self.time_s),
                "pnl": {k: list(v) for k, v in self.pnl.items()},
                "pairs": {
                    name: {k: list(v) for k, v in series.items()}
                    | {"trades": list(self.trades[name])}
                    for name, series in self.pairs.items()
                },
            }
        )


class SnapshotFeed:
    """The latest snapshot as JSON text and a version number that waiters can follow."""

    def __init__(self) -> None:
        self.text = "{}"
        self.version = 0
        self._changed = asyncio.Condition()

    async def publish(self, payload: dict[str, Any]) -> None:
        self.text = json.dumps(finite(payload))
        self.version += 1
        async with self._changed:
            self._changed.notify_all()

    async def wait_newer(self, version: int, timeout_s: float) -> None:
        async with self._changed:
            if self.version == version:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout_s)


class StaticAssets:
    """The page's files and plotly.js, read and gzip-compressed once when the app is built.

    Build it off the loop (`asyncio.to_thread`: zlib releases the GIL). Each answer is one
    body written at once: a file streamed in chunks takes one loop turn
    per chunk, and a loop busy with market data (an engine catching up) makes that minutes
    for plotly.js's 4.8 MB."""

    MEDIA = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}

    def __init__(self) -> None:
        sources = {name: (STATIC / name).read_bytes() for name in
                   ("dashboard.html", "dashboard.js", "dashboard.css")}  # fmt: skip
        sources["plotly.min.js"] = plotly_js_path().read_bytes()
        self.files = {
            name: (body, gzip.compress(body, compresslevel=6, mtime=0))
            for name, body in sources.items()
        }

    def response(self, name: str, request: Request) -> Response:
        body, compressed = self.files[name]
        media = self.MEDIA[Path(name).suffix]
        headers = {"Cache-Control": "no-cache"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
            return Response(compressed, media_type=media, headers=headers)
        return Response(body, media_type=media, headers=headers)


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def build_app(service: Any, assets: StaticAssets) -> Starlette:
    """The dashboard app over an `OpsService` (its snapshots, history and control)."""
    control = service.control

    async def page(request: Request) -> Response:
        return assets.response("dashboard.html", request)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets.files:
            return JSONResponse({"error": f"no static file {name!r}"}, status_code=404)
        return assets.response(name, request)

    async def state(request: Request) -> Response:
        return Response(service.feed.text, media_type="application/json")

    async def history(request: Request) -> Response:
        return JSONResponse(service.history.as_dict())

    async def events(request: Request) -> Response:
        feed = service.feed

        async def stream():
            version = -1
            yield "retry: 1000\n\n"
            while True:
                if feed.version != version:
                    version = feed.version
                    yield f"event: state\ndata: {feed.text}\n\n"
                else:
                    yield ": keep-alive\n\n"
                if await request.is_disconnected():
                    return
                await feed.wait_newer(version, 5.0)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    def refused() -> Response:
        return JSONResponse(
            {"error": "a valid token is needed (Authorization: Bearer <token>)"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def kill(request: Request) -> Response:
        if not control.authorised(_token(request)):
            return refused()
        new_state = control.kill("dashboard")
        await service.refresh()
        return JSONResponse({"trading_state": new_state})

    async def pair_action(request: Request) -> Response:
        if not control.authorised(_token(request)):
            return refused()
        pair, action = request.path_params["pair"], request.path_params["action"]
        if action not in ("halt", "resume"):
            return JSONResponse({"error": f"unknown action {action!r}"}, status_code=404)
        if pair not in service.pair_names:
            return JSONResponse({"error": f"unknown pair {pair!r}"}, status_code=404)
        (control.halt_pair if action == "halt" else control.resume_pair)(pair)
        await service.refresh()
        return JSONResponse({"pair": pair, "halted": pair in control.halted_pairs})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/favicon.ico", lambda request: Response(status_code=204)),
            Route("/static/{name}", static),
            Route("/api/state", state),
            Route("/api/history", history),
            Route("/api/events", events),
            Route("/api/kill", kill, methods=["POST"]),
            Route("/api/pairs/{pair:path}/{action}", pair_action, methods=["POST"]),
        ]
    )
