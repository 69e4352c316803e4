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

import heapq
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from calarb.backtest.config import BacktestConfig
from calarb.backtest.models import ConstantLatency
from calarb.backtest.replay_kernel import (
    LIMIT,
    LOCATES,
    WATCHED,
    FastPathUnavailable,
    ReplayKernel,
    frame_times,
)
from calarb.backtest.results import BacktestResult, RunRecorder
from calarb.backtest.venue import ReplayVenue
from calarb.backtest.wiring import build_engine
from calarb.core.clock import SimulatedClock
from calarb.core.events import TopOfBook
from calarb.core.scheduler import EventScheduler
from calarb.itch.codec import decode
from calarb.itch.spec import MESSAGE_LENGTHS
from calarb.ops.compile_watch import CompileWatch
from calarb.trading.router import Router
from calarb.trading.strategy import IDLE_FOREVER
from calarb.trading.strategy_api import StrategyHost

_new_top = tuple.__new__  # builds a TopOfBook without its Python-level __new__
_LENGTH_BY_TYPE = np.zeros(256, dtype=np.int64)
for _code, _length in MESSAGE_LENGTHS.items():
    _LENGTH_BY_TYPE[ord(_code)] = _length


@dataclass
class ItchSource:
    """One venue's ITCH file, framed: message offsets, types and times."""

    path: str
    buffer: np.ndarray  # uint8, the file's bytes
    offsets: np.ndarray  # int64, offset of each message's type byte
    types: np.ndarray  # uint8, each message's type byte
    times: np.ndarray  # int64 ns after midnight: the running maximum of the timestamps
    locate_counts: np.ndarray  # int64, messages per stock locate
    symbols: dict[int, str]  # locate -> symbol (stock directory)
    directory: dict[int, bytes]  # locate -> its stock directory (R) message

    @property
    def messages(self) -> int:
        return int(self.offsets.size)

    @cached_property
    def lengths(self) -> np.ndarray:
        """int64, each message's length."""
        return _LENGTH_BY_TYPE[self.types]

    @cached_property
    def data(self) -> bytes:
        """The file's bytes as `bytes` (a copy: the slow path slices messages out of it)."""
        return self.buffer.tobytes()


def load_itch_source(path: str | Path) -> ItchSource:
    """Frame a whole ITCH file (plain or .gz); a bad frame raises `ItchDecodeError` naming its
    byte offset."""
    buf, offsets, types, times, locate_counts = frame_times(path)
    symbols = {}
    directory = {}
    for start in offsets[types == ord("R")].tolist():
        payload = buf[start : start + MESSAGE_LENGTHS["R"]].tobytes()
        message = decode(payload)
        symbols[message.stock_locate] = message.stock
        directory[message.stock_locate] = payload
    return ItchSource(
        str(path), buf, offsets, types, times, locate_counts, symbols, directory,
    )  # fmt: skip


def most_active_symbols(sources: Sequence[ItchSource]) -> list[str]:
    """Symbols of all sources, most messages first (ties: alphabetical)."""
    counts: dict[str, int] = {}
    for source in sources:
        per_locate = source.locate_counts
        for locate, symbol in source.symbols.items():
            counts[symbol] = counts.get(symbol, 0) + int(per_locate[locate])
    return sorted(counts, key=lambda s: (-counts[s], s))


def merge_order(
    sources: Sequence[ItchSource],
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(venue index, message index, time) of every message of every source, in time order
    (each source's running maximum time); ties go to the lower venue index, then file order.
    One source: its own order (message index None: the identity)."""
    if len(sources) == 1:
        return np.zeros(sources[0].messages, np.uint8), None, sources[0].times
    times = np.concatenate([s.times for s in sources]) if sources else np.zeros(0, np.int64)
    venue = np.concatenate([np.full(s.messages, i, np.int64) for i, s in enumerate(sources)])
    index = np.concatenate([np.arange(s.messages, dtype=np.int64) for s in sources])
    order = np.lexsort((index, venue, times))
    return venue[order], index[order], times[order]


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


class _ReplayRun:
    """One backtest over loaded sources: the engine, its venues and the merged stream. In the
    fast replay it is the router's `SizeSource` (`deliver_sizes`)."""

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
        self.scheduler = scheduler = EventScheduler(self.clock)
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
        router = Router(fees.items(), size_source=self) if fast else None
        self.engine = build_engine(
            config, self.clock, self.venues, self.recorder, strategy, router=router
        )
        self.top_sink = self.engine.on_market_data
        sink = self._venue_top if fast else self.top_sink
        for venue in self.venues.values():
            venue.connect(self.recorder, sink)
        self.tick = _start_timer(
            scheduler, self.engine, self.recorder, start_ns, self.end_ns, config.sample_ns
        )
        # fast replay
        self.kernel: ReplayKernel | None = None
        self.slots_of: dict[str, list[int]] = {}  # symbol -> its (venue, locate) slots
        self.slot_names: dict[int, tuple[str, str]] = {}  # slot -> (venue name, symbol)
        self.slot_of: dict[tuple[str, str], int] = {}  # (venue name, symbol) -> slot
        self.off_queue_tops = 0  # size-only top changes not scheduled (fast replay)
        self.late_tops = 0  # of which delivered on demand or at the end
        self._idle_at = -1  # scheduler.events_run when `_idle_bound` was last asked
        self._idle_bound = 0

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
        index_of = self.index_of
        for venue, index, at in zip(
            self.venue_of.tolist(),
            range(len(self.time_of)) if index_of is None else index_of.tolist(),
            self.time_of.tolist(),
            strict=True,
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
        are scheduled as usual; size-only ones wait in the kernel's chains until the router
        routes an order of their symbol or the run ends, and the later top of theirs that
        reaches the engine first makes them dead. A timer tick due while the engine has
        nothing to do on a timer runs in the kernel: only its equity row is recorded."""
        sources = self.sources
        venues = [self.venues[name] for name in self.names]
        kernel = self.kernel = self._kernel()
        names = self.slot_names
        data = kernel.buf.data  # the bytes under the kernel's array (no copy)
        offsets = kernel.offsets
        length_of = _LENGTH_BY_TYPE
        venue_of = kernel.venue_of
        times = kernel.times
        watched = kernel.watched
        out = kernel.out
        period = self.config.sample_ns
        end_ns = self.end_ns
        tick = self.tick
        scheduler = self.scheduler
        queue = scheduler.queue  # the heap: the kernel's events go in with its own numbers
        run_until_held = scheduler.run_until_held
        advance = kernel.advance
        heappush = heapq.heappush
        active_top = self._active_top
        timer_idle = self._timer_idle
        sample_repeated = self.recorder.sample_repeated
        total = int(times.size)
        position = 0
        while position < total:
            base = scheduler.next_sequence
            if queue and queue[0][2] is tick and timer_idle():
                held = heapq.heappop(queue)
                horizon = queue[0][0] if queue else None
                bound = self._idle_until()  # ticks from then on act: Python runs them
                if bound < IDLE_FOREVER and (horizon is None or bound < horizon):
                    horizon = bound
                reason, position, outputs, made, ran, tick_at, tick_seq = advance(
                    position, horizon, base, held[0], period, end_ns
                )
                if ran:
                    scheduler.events_run += ran
                    sample_repeated(held[0], period, ran)
                    if tick_seq >= 0:
                        heappush(queue, (tick_at, tick_seq, tick, ()))
                else:
                    heappush(queue, held)
            else:
                reason, position, outputs, made, *_ = advance(
                    position, queue[0][0] if queue else None, base
                )
            scheduler.next_sequence = base + made
            if outputs:
                for slot, arrival, stamp, bid, bid_shares, ask, ask_shares, sequence in out[
                    :outputs
                ].tolist():
                    name, symbol = names[slot]
                    top = _new_top(TopOfBook, (symbol, stamp, bid, bid_shares, ask, ask_shares))
                    heappush(queue, (arrival, sequence, active_top, (slot, name, top)))
            if position >= total or reason == LIMIT:
                continue
            at = int(times[position])
            if queue and queue[0][0] <= at and run_until_held(at, tick, timer_idle):
                continue  # the kernel runs that tick
            if reason != WATCHED:
                continue
            start = int(offsets[position])
            v = int(venue_of[position])
            if watched[v * LOCATES + ((data[start + 1] << 8) | data[start + 2])]:
                end = start + int(length_of[data[start]])
                venues[v].on_message(bytes(data[start:end]), at)
                kernel.apply_one(position)
                position += 1
        self.off_queue_tops = kernel.off_queue
        for i, venue in enumerate(venues):
            venue.messages = sources[i].messages

    def _idle_until(self) -> int:
        """`TradingEngine.timer_idle_until`, asked again only after an event ran (only
        events change its answer)."""
        scheduler = self.scheduler
        if scheduler.events_run != self._idle_at:
            self._idle_bound = self.engine.timer_idle_until()
            self._idle_at = scheduler.events_run
        return self._idle_bound

    def _timer_idle(self) -> bool:
        """The tick at the head of the queue would do nothing (the kernel may run it)."""
        return self.scheduler.queue[0][0] < self._idle_until()

    def _active_top(self, slot: int, venue_name: str, top: TopOfBook) -> None:
        """A top change the engine must see now; it makes the slot's pending ones dead."""
        superseded = self.kernel.superseded
        running = self.scheduler.running
        superseded[slot, 0] = running[0]
        superseded[slot, 1] = running[1]
        self.top_sink(venue_name, top)

    def _venue_top(self, venue_name: str, top: TopOfBook) -> None:
        """A top change a venue's Python book published (a watched symbol): as `_active_top`."""
        self._active_top(self.slot_of[(venue_name, top.symbol)], venue_name, top)

    def _deliver(self, slot: int, entry: list[int]) -> None:
        """A pending size-only top reaches the engine."""
        name, symbol = self.slot_names[slot]
        self.late_tops += 1
        self.top_sink(name, _new_top(TopOfBook, (symbol, *entry[2:])))

    def deliver_sizes(self, symbol: str) -> None:
        """`SizeSource`: before the router reads `symbol`'s sizes, the last of its pending
        tops that the slow path would have delivered by now reaches the engine."""
        kernel = self.kernel
        running = self.scheduler.running
        now = (running[0], running[1])
        for slot in self.slots_of.get(symbol, ()):
            entry = kernel.take_due(slot, now)
            if entry is not None:
                self._deliver(slot, entry)

    def _finish_pending(self) -> None:
        """After the last event: each slot's last pending top reaches the engine (so its
        final state is the slow path's), in arrival order."""
        kernel = self.kernel
        lasts = []
        for slot in self.slot_names:
            entry = kernel.last_pending(slot)
            if entry is not None:
                lasts.append((entry[:2], slot, entry))
        for _, slot, entry in sorted(lasts):
            self._deliver(slot, entry)
        # the engine counts each top it is handed; the slow path hands it every one
        self.engine.market_data_messages += self.off_queue_tops - self.late_tops

    def _kernel(self) -> ReplayKernel:
        """The compiled books over the merged stream, subscribed slots marked
        (`self.slot_names`, `self.slots_of`)."""
        sources = self.sources
        if len(sources) == 1:  # merged order is file order
            buf = sources[0].buffer
            offsets = sources[0].offsets
        else:
            buf = np.concatenate([s.buffer for s in sources])
            bases = np.cumsum([0] + [s.buffer.size for s in sources[:-1]])
            firsts = np.cumsum([0] + [s.messages for s in sources[:-1]])
            all_offsets = np.concatenate(
                [s.offsets + b for s, b in zip(sources, bases, strict=True)]
            )
            merged = firsts[self.venue_of] + self.index_of
            offsets = all_offsets[merged]
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
        if isinstance(self.strategy, StrategyHost):  # a Strategy sees every top change
            sizes_matter = subscribed
        listed: dict[str, int] = {}
        for source in sources:
            for symbol in set(source.symbols.values()):
                listed[symbol] = listed.get(symbol, 0) + 1
        for i, (source, venue) in enumerate(zip(sources, venues, strict=True)):
            venue.attach_kernel(kernel, i, source.directory)
            for locate, symbol in source.symbols.items():
                if symbol not in subscribed:
                    continue
                slot = i * LOCATES + locate
                kernel.publish[slot] = 1
                kernel.coalesce[slot] = listed[symbol] == 1 and symbol not in sizes_matter
                self.slot_names[slot] = (venue.name, symbol)
                self.slot_of[(venue.name, symbol)] = slot
                self.slots_of.setdefault(symbol, []).append(slot)
        return kernel

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
    limits), then an equity sample. Returns the scheduled action (the fast replay runs the
    idle ones in its kernel)."""

    def tick() -> None:
        now = scheduler.clock.monotonic_ns()
        engine.on_timer(now)
        recorder.sample(now)
        if now + period_ns <= end_ns:
            scheduler.schedule(now + period_ns, tick)

    scheduler.schedule(start_ns, tick)
    return tick


def run_backtest(
    config: BacktestConfig,
    data: str | Sequence[str | Path],
    itch_dir: str | Path | None = None,
    compile_notice: Callable[[], None] | None = None,
) -> BacktestResult:
    """`data`: "synthetic", or one or more inputs (`calarb.backtest.inputs`): ITCH files (one
    venue each, a list or one string with commas), `lobster:...` or `parquet:...` (one venue
    each). LOBSTER and Parquet venues become ITCH files in `itch_dir` (default: a temporary
    directory removed after the run); a venue whose configuration sets no queue model (or
    "auto") gets the one its data supports.

    Time spent compiling Numba kernels (a first run after an install) is measured apart
    (`result.compile_s`) and left out of the event rate; `compile_notice` is called when a
    compilation starts (the command prints that it compiles)."""
    with CompileWatch(compile_notice) as watch:
        result = _run_backtest(config, data, itch_dir)
    result.set_compile_time(watch.seconds)
    return result


def _run_backtest(
    config: BacktestConfig, data: str | Sequence[str | Path], itch_dir: str | Path | None
) -> BacktestResult:
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
