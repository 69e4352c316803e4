"""Replay: recorded market data merged onto one simulated clock, driving the trading engine.

Each ITCH file is one venue. Files are framed in bulk (`calarb.itch.bulk.frame_bytes`), each
message's timestamp read with NumPy, and the files merged by timestamp into one stream (a file's
own order is kept even if its timestamps step back: they are merged on their running maximum).
The loop hands each message to its venue's `ReplayVenue` at its timestamp, after running
everything on the `EventScheduler` due by then (orders arriving at venues, reports and
top-of-book changes reaching the engine, the periodic timer). The engine is the live one:
`calarb.trading.engine.TradingEngine` with the same strategy, risk gate, router, OMS and
portfolio classes.

That is the slow path. The fast one (the default when feed latencies are constant) replays
the books in compiled code (`calarb.backtest.replay_kernel`) and gives Python only what the
engine or a venue must act on; the results are the same (docs/backtest.md, "Fast replay").

`run_backtest(config, data)` picks the input: a list of ITCH files, or "synthetic" for a
market generated from the configuration's `[synthetic]` section (`calarb.backtest.synthetic`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calarb.backtest.config import BacktestConfig
from calarb.backtest.models import ConstantLatency
from calarb.backtest.replay_kernel import (
    ACTIVE,
    COALESCE,
    DEAD,
    LIMIT,
    LOCATES,
    FastPathUnavailable,
    ReplayKernel,
    message_fields,
)
from calarb.backtest.results import BacktestResult, RunRecorder, TapedGateway
from calarb.backtest.venue import ReplayVenue
from calarb.core.clock import SimulatedClock
from calarb.core.events import TopOfBook
from calarb.itch.bulk import frame_bytes
from calarb.itch.codec import decode
from calarb.itch.spec import MESSAGE_LENGTHS
from calarb.trading.engine import TradingEngine
from calarb.trading.gateway import EventScheduler
from calarb.trading.orders import OrderIntent
from calarb.trading.router import RouteDecision, Router

_new_top = tuple.__new__  # builds a TopOfBook without its Python-level __new__
_LENGTH_BY_TYPE = np.zeros(256, dtype=np.int64)
for _code, _length in MESSAGE_LENGTHS.items():
    _LENGTH_BY_TYPE[ord(_code)] = _length


@dataclass
class ItchSource:
    """One venue's ITCH file, framed: message offsets, lengths and timestamps."""

    path: str
    data: bytes
    offsets: np.ndarray  # int64, offset of each message's type byte
    lengths: np.ndarray  # int64
    timestamps: np.ndarray  # int64 ns after midnight
    locates: np.ndarray  # int64 stock locate of each message
    symbols: dict[int, str]  # locate -> symbol (stock directory)

    @property
    def messages(self) -> int:
        return int(self.offsets.size)


def load_itch_source(path: str | Path) -> ItchSource:
    """Frame a whole ITCH file (plain or .gz); a bad frame raises `ItchDecodeError` naming its
    byte offset."""
    frames = frame_bytes(path)
    buf = frames.buffer
    offsets = frames.offsets
    stamp, locates = message_fields(buf, offsets)
    data = buf.tobytes()
    symbols = {}
    for number in frames.message_numbers("R"):
        start = int(offsets[number])
        message = decode(data[start : start + MESSAGE_LENGTHS["R"]])
        symbols[message.stock_locate] = message.stock
    return ItchSource(
        str(path), data, offsets, _LENGTH_BY_TYPE[frames.types], stamp, locates, symbols
    )


def most_active_symbols(sources: Sequence[ItchSource]) -> list[str]:
    """Symbols of all sources, most messages first (ties: alphabetical)."""
    counts: dict[str, int] = {}
    for source in sources:
        per_locate = np.bincount(source.locates, minlength=65536)
        for locate, symbol in source.symbols.items():
            counts[symbol] = counts.get(symbol, 0) + int(per_locate[locate])
    return sorted(counts, key=lambda s: (-counts[s], s))


def merge_order(sources: Sequence[ItchSource]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(venue index, message index, time) of every message of every source, in time order;
    ties go to the lower venue index, then file order."""
    keys = [np.maximum.accumulate(s.timestamps) if s.messages else s.timestamps for s in sources]
    if len(sources) == 1:  # already in that order
        return np.zeros(sources[0].messages, np.int64), np.arange(sources[0].messages), keys[0]
    times = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    venue = np.concatenate([np.full(s.messages, i, np.int64) for i, s in enumerate(sources)])
    index = np.concatenate([np.arange(s.messages, dtype=np.int64) for s in sources])
    order = np.lexsort((index, venue, times))
    return venue[order], index[order], times[order]


def build_engine(
    config: BacktestConfig, clock, gateways, recorder: RunRecorder, strategy, router=None
):
    fees = {name: config.fees(name) for name in gateways}
    taped = {name: TapedGateway(gateway, recorder) for name, gateway in gateways.items()}
    engine = TradingEngine(
        clock, strategy, taped, fees=fees, risk_limits=config.risk_limits(), router=router
    )
    recorder.attach(engine)
    return engine


def run_itch_backtest(
    config: BacktestConfig, paths: Sequence[str | Path], *, fast: bool = True
) -> BacktestResult:
    """Replay ITCH files (one venue each) through the engine; see the module docstring.

    `fast`: replay the market data on the compiled path (`calarb.backtest.replay_kernel`)
    when it applies (constant feed latencies) and the data has nothing the compiled books
    would apply differently; the results are the slow path's (docs/backtest.md, "Fast
    replay"). `fast=False` always takes the slow path. The result's `replay` says which
    path ran: {"path": "fast" | "slow", "reason": why not fast, "deferred_tops": size-only
    top changes the fast path did not schedule}."""
    started = time.perf_counter()
    sources = [load_itch_source(path) for path in paths]
    reason = "" if fast else "fast=False"
    if fast and not _fast_path_applies(config, len(sources)):
        reason = "a feed latency is not constant"
    if not reason:
        try:
            run = _ReplayRun(config, sources, fast=True)
            run.replay_fast()
        except FastPathUnavailable as exc:
            reason = f"the compiled books would apply {exc} differently"
    if reason:
        run = _ReplayRun(config, sources)
        run.replay_slow()
    result = run.result(paths, time.perf_counter() - started)
    result.replay = {
        "path": "slow" if reason else "fast",
        "reason": reason,
        "deferred_tops": run.off_queue_tops,
    }
    return result


def _fast_path_applies(config: BacktestConfig, venues: int) -> bool:
    """The compiled path needs constant feed latencies: a random model draws once per
    published top change, and the fast path hands the engine fewer of them."""
    names = config.venue_names(venues)
    return all(
        type(config.feed_latency(name, i)) is ConstantLatency for i, name in enumerate(names)
    )


class _ReplayScheduler(EventScheduler):
    """An `EventScheduler` that also says which event is running, as its (time, insertion
    number): the fast path orders pending size-only tops against it."""

    def __init__(self, clock: SimulatedClock) -> None:
        super().__init__(clock)
        self.current: tuple[int, int] = (clock.monotonic_ns(), -1)

    def _run_head(self) -> None:
        head = self._queue[0]
        self.current = (head[0], head[1])
        super()._run_head()

    def reserve(self) -> int:
        """An insertion number for something held outside the queue (a pending top)."""
        return next(self._sequence)


class _SizesOnDemandRouter(Router):
    """The engine's router, which first takes the pending size-only tops of the symbol it
    routes (fast replay: the router is the one part of the engine that reads displayed
    sizes, see docs/backtest.md)."""

    def __init__(self, venues, before_route: Callable[[str], None]) -> None:
        super().__init__(venues)
        self.before_route = before_route

    def route(self, intent: OrderIntent) -> RouteDecision:
        self.before_route(intent.symbol)
        return super().route(intent)


class _ReplayRun:
    """One backtest over loaded sources: the engine, its venues and the merged stream."""

    def __init__(
        self, config: BacktestConfig, sources: Sequence[ItchSource], fast: bool = False
    ) -> None:
        self.config = config
        self.sources = sources
        self.names = names = config.venue_names(len(sources))
        self.strategy = strategy = config.build_strategy(config.pairs(most_active_symbols(sources)))
        self.venue_of, self.index_of, self.time_of = merge_order(sources)
        time_of = self.time_of
        self.start_ns = start_ns = int(time_of[0]) if time_of.size else 0
        self.end_ns = int(time_of[-1]) if time_of.size else 0
        self.clock = SimulatedClock(start_ns)
        self.scheduler = scheduler = _ReplayScheduler(self.clock)
        symbols = set(strategy.symbols)
        self.venues = {
            name: ReplayVenue(
                name, scheduler, order_latency=config.order_latency(name, i),
                feed_latency=config.feed_latency(name, i), queue_model=config.queue(name),
                symbols=symbols,
            )
            for i, name in enumerate(names)
        }  # fmt: skip
        fees = {name: config.fees(name) for name in names}
        self.recorder = RunRecorder(config.sample_ns, fees)
        router = _SizesOnDemandRouter(fees.items(), self._take_pending) if fast else None
        self.engine = build_engine(
            config, self.clock, self.venues, self.recorder, strategy, router=router
        )
        self.top_sink = self.engine.on_market_data
        sink = self._active_top if fast else self.top_sink
        for venue in self.venues.values():
            venue.connect(self.recorder, sink)
        _start_timer(scheduler, self.engine, self.recorder, start_ns, self.end_ns, config.sample_ns)
        # fast replay: (venue, locate) slot -> its pending size-only tops, oldest first, each
        # (arrival, insertion number, venue name, top)
        self.pending: dict[int, list[tuple[int, int, str, TopOfBook]]] = {}
        self.slots_of: dict[str, list[int]] = {}  # symbol -> its (venue, locate) slots
        self.slot_of: dict[tuple[str, str], int] = {}  # (venue name, symbol) -> slot
        self.off_queue_tops = 0  # size-only top changes not scheduled (fast replay)
        self.late_tops = 0  # of which delivered on demand or at the end

    def replay_slow(self) -> None:
        """Every message through its venue's Python books, in merged order."""
        sources = self.sources
        feeds = [self.venues[name].on_message for name in self.names]
        datas = [source.data for source in sources]
        offsets = [source.offsets.tolist() for source in sources]
        lengths = [source.lengths.tolist() for source in sources]
        scheduler = self.scheduler
        next_time = scheduler.next_time
        run_until = scheduler.run_until
        for venue, index, at in zip(
            self.venue_of.tolist(), self.index_of.tolist(), self.time_of.tolist(), strict=True
        ):
            due = next_time()
            if due is not None and due <= at:
                run_until(at)
            start = offsets[venue][index]
            feeds[venue](datas[venue][start : start + lengths[venue][index]], at)

    # -- fast replay ----------------------------------------------------------------------

    def replay_fast(self) -> None:
        """The compiled books take every message; Python sees only what it must (see
        `calarb.backtest.replay_kernel`). Top changes that move a price (or empty a side)
        are scheduled as usual; size-only ones wait in `pending` until the router routes an
        order of their symbol, a later top of theirs reaches the engine, or the run ends."""
        sources = self.sources
        venues = [self.venues[name] for name in self.names]
        kernel, lengths, targets = self._kernel()
        data = kernel.buf.data  # the bytes under the kernel's array (no copy)
        offsets = kernel.offsets
        venue_of = kernel.venue_of
        times = kernel.times
        watched = kernel.watched
        feed_free = kernel.feed_free
        scheduler = self.scheduler
        next_time = scheduler.next_time
        run_until = scheduler.run_until
        schedule = scheduler.schedule
        reserve = scheduler.reserve
        active_top = self._active_top
        pending = self.pending
        total = int(times.size)
        position = 0
        while position < total:
            for i, venue in enumerate(venues):
                feed_free[i] = venue._link_free[2]
            reason, position, outputs = kernel.advance(position, next_time())
            for i, venue in enumerate(venues):
                venue._link_free[2] = int(feed_free[i])
            if outputs:
                for slot, arrival, stamp, bid, bid_shares, ask, ask_shares, kind in kernel.out[
                    :outputs
                ].tolist():
                    if kind == DEAD:
                        continue
                    venue, symbol = targets[slot]
                    venue._last_top[symbol] = (bid, bid_shares, ask, ask_shares)
                    top = _new_top(TopOfBook, (symbol, stamp, bid, bid_shares, ask, ask_shares))
                    if kind == ACTIVE:
                        schedule(arrival, active_top, venue.name, top)
                        continue
                    self.off_queue_tops += 1
                    entry = (arrival, reserve(), venue.name, top)
                    chain = pending.get(slot)
                    if chain is None:
                        pending[slot] = [entry]
                    elif kind == COALESCE:
                        chain[-1] = entry  # nothing reads it before the new one arrives
                    else:
                        chain.append(entry)
            if position >= total or reason == LIMIT:
                continue
            at = int(times[position])
            due = next_time()
            if due is not None and due <= at:
                run_until(at)
            start = int(offsets[position])
            v = int(venue_of[position])
            if watched[v * LOCATES + ((data[start + 1] << 8) | data[start + 2])]:
                venues[v].on_message(bytes(data[start : start + int(lengths[position])]), at)
                kernel.apply_one(position)
                position += 1
        self.off_queue_tops += kernel.coalesced
        for i, venue in enumerate(venues):
            venue.messages = sources[i].messages

    def _active_top(self, venue_name: str, top: TopOfBook) -> None:
        """A top change the engine must see now; it supersedes that venue's pending ones."""
        slot = self.slot_of.get((venue_name, top.symbol))
        if slot is not None and slot in self.pending:
            self._take_slot(slot, deliver=False)
        self.top_sink(venue_name, top)

    def _take_pending(self, symbol: str) -> None:
        """Before the router reads `symbol`'s sizes: the last of its pending tops that the
        slow path would have delivered by now reaches the engine."""
        for slot in self.slots_of.get(symbol, ()):
            if slot in self.pending:
                self._take_slot(slot, deliver=True)

    def _take_slot(self, slot: int, deliver: bool) -> None:
        chain = self.pending[slot]
        now = self.scheduler.current
        due = 0
        while due < len(chain) and chain[due][:2] < now:
            due += 1
        if not due:
            return
        last = chain[due - 1]
        del chain[:due]
        if not chain:
            del self.pending[slot]
        if deliver:
            self.late_tops += 1
            self.top_sink(last[2], last[3])

    def _finish_pending(self) -> None:
        """After the last event: each slot's last pending top reaches the engine (so its
        final state is the slow path's), in arrival order."""
        lasts = sorted((chain[-1] for chain in self.pending.values()), key=lambda e: e[:2])
        self.pending.clear()
        self.late_tops += len(lasts)
        for _, _, venue_name, top in lasts:
            self.top_sink(venue_name, top)
        # the engine counts each top it is handed; the slow path hands it every one
        self.engine.market_data_messages += self.off_queue_tops - self.late_tops

    def _kernel(self) -> tuple[ReplayKernel, np.ndarray, dict[int, tuple[ReplayVenue, str]]]:
        sources = self.sources
        if len(sources) == 1:
            buf = np.frombuffer(sources[0].data, dtype=np.uint8)
            offsets = sources[0].offsets[self.index_of]
            lengths = sources[0].lengths[self.index_of]
        else:
            buf = np.frombuffer(b"".join(s.data for s in sources), dtype=np.uint8)
            bases = np.cumsum([0] + [len(s.data) for s in sources[:-1]])
            firsts = np.cumsum([0] + [s.messages for s in sources[:-1]])
            all_offsets = np.concatenate(
                [s.offsets + b for s, b in zip(sources, bases, strict=True)]
            )
            merged = firsts[self.venue_of] + self.index_of
            offsets = all_offsets[merged]
            lengths = np.concatenate([s.lengths for s in sources])[merged]
        venues = [self.venues[name] for name in self.names]
        kernel = ReplayKernel(
            buf, np.ascontiguousarray(offsets), self.venue_of, self.time_of, len(sources),
            [venue.feed_latency.sample() for venue in venues],
        )  # fmt: skip
        subscribed = set(self.strategy.symbols)
        sizes_matter = {  # the microprice moves with sizes: every change is an observation
            symbol
            for state in self.strategy.pairs.values()
            if state.model.price_source != "mid"
            for symbol in (state.model.leg_a, state.model.leg_b)
        }
        listed: dict[str, int] = {}
        for source in sources:
            for symbol in set(source.symbols.values()):
                listed[symbol] = listed.get(symbol, 0) + 1
        targets = {}
        for i, (source, venue) in enumerate(zip(sources, venues, strict=True)):
            types = np.frombuffer(source.data, dtype=np.uint8)[source.offsets]
            directory = {}
            for start in source.offsets[types == ord("R")].tolist():
                payload = source.data[start : start + MESSAGE_LENGTHS["R"]]
                directory[(payload[1] << 8) | payload[2]] = payload
            venue.attach_kernel(kernel, i, directory)
            for locate, symbol in source.symbols.items():
                if symbol not in subscribed:
                    continue
                slot = i * LOCATES + locate
                kernel.publish[slot] = 1
                kernel.coalesce[slot] = listed[symbol] == 1 and symbol not in sizes_matter
                targets[slot] = (venue, symbol)
                self.slots_of.setdefault(symbol, []).append(slot)
                self.slot_of[(venue.name, symbol)] = slot
        return kernel, lengths, targets

    def result(self, paths: Sequence[str | Path], elapsed_s: float) -> BacktestResult:
        scheduler = self.scheduler
        scheduler.run_until(self.end_ns + self.config.sample_ns)
        if self.off_queue_tops:
            self._finish_pending()
        self.recorder.sample(self.clock.monotonic_ns())
        # a size-only top change the fast path did not schedule is still one event (the
        # slow path's delivery of it), so both paths count the same events
        events = int(self.time_of.size) + scheduler.events_run + self.off_queue_tops
        return BacktestResult(
            self.engine, self.recorder, events=events, elapsed_s=elapsed_s,
            source=", ".join(str(p) for p in paths),
            venues={name: venue.state() for name, venue in self.venues.items()},
        )  # fmt: skip


def _start_timer(scheduler, engine, recorder, start_ns: int, end_ns: int, period_ns: int):
    """Every `period_ns` until `end_ns`: the engine's timer (legging timeouts, post-trade
    limits), then an equity sample."""

    def tick() -> None:
        now = scheduler.clock.monotonic_ns()
        engine.on_timer(now)
        recorder.sample(now)
        if now + period_ns <= end_ns:
            scheduler.schedule(now + period_ns, tick)

    scheduler.schedule(start_ns, tick)


def run_backtest(
    config: BacktestConfig, data: str | Sequence[str | Path], itch_dir: str | Path | None = None
) -> BacktestResult:
    """`data`: "synthetic", or one or more inputs (`calarb.backtest.inputs`): ITCH files (one
    venue each, a list or one string with commas), `lobster:...` or `parquet:...` (one venue
    each). LOBSTER and Parquet venues become ITCH files in `itch_dir` (default: a temporary
    directory removed after the run); a venue whose configuration sets no queue model (or
    "auto") gets the one its data supports."""
    import tempfile

    from calarb.backtest.inputs import SYNTHETIC_DATA, prepare_inputs, with_data_queues

    if data == SYNTHETIC_DATA or (not isinstance(data, str) and list(data) == [SYNTHETIC_DATA]):
        from calarb.backtest.synthetic import run_synthetic_backtest

        return run_synthetic_backtest(config)
    with tempfile.TemporaryDirectory(prefix="calarb-backtest-") as scratch:
        venues = prepare_inputs(data, itch_dir if itch_dir is not None else scratch)
        result = run_itch_backtest(with_data_queues(config, venues), [v.path for v in venues])
    result.source = ", ".join(venue.source for venue in venues)
    return result
