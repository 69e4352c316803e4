"""The options simulator as live venues, for `calarb run`: an options exchange and the stock
exchange of its underlying, stepped in real time on one asyncio loop.

One `OptionsMarket` (one `MatchingEngine`: the options and the underlying) is reached as two
venues, as a trader meets an options market and its underlying's market:

===========  ====================================================  =========================
venue        market data (MoldUDP64 multicast, 127.0.0.1)          order entry (FIX 4.4)
===========  ====================================================  =========================
options      Nasdaq ITTO 4.0 (`OptionsItchPublisher`)              TargetCompID `options_comp_id`
underlying   Nasdaq TotalView-ITCH 5.0 (`ItchPublisher`)           TargetCompID `equity_comp_id`
===========  ====================================================  =========================

Both FIX sessions are served by one acceptor on one port and one `VenueGateway` (so the
reports of both reach their owners): the trader logs on once per venue, under a
SenderCompID per venue (`participants`). The market steps every `step_s` real seconds
(`step_ns` of simulated time each), its book events go out on the two feeds, orders are
matched as they arrive. The venue's clock for FIX is the host's `LiveClock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from calarb.backtest.options_market import FEE_PER_CONTRACT, OptionsMarket, OptionsMarketConfig
from calarb.core.clock import DAY_NS, Clock, LiveClock
from calarb.fix.transport import FixAcceptor
from calarb.itch.transport import fresh_multicast_address
from calarb.venue.config import ParticipantConfig
from calarb.venue.gateway import VenueGateway, acceptor_settings
from calarb.venue.itch_publisher import ItchPublisher
from calarb.venue.market_data import MarketDataConfig, VenueMarketData
from calarb.venue.options_publisher import OptionsItchPublisher, split_events


@dataclass(frozen=True)
class OptionsVenueConfig:
    """`options_participant` / `equity_participant`: the trader's SenderCompID on each venue
    (distinct: one gateway keeps one state per participant); `username`/`password`: their
    Logon credentials; `step_s`: real seconds per market step; `port`: the FIX port (0: any
    free one); feeds on fresh multicast groups unless given as (group, port)."""

    market: OptionsMarketConfig = OptionsMarketConfig()
    options_comp_id: str = "OPTV"
    equity_comp_id: str = "EQTY"
    options_participant: str = "CALARB"
    equity_participant: str = "CALARBEQ"
    username: str = "calarb"
    password: str = "secret"
    heartbeat_interval_s: int = 5
    step_s: float = 0.1
    port: int = 0
    options_feed: tuple[str, int] | None = None
    equity_feed: tuple[str, int] | None = None


def todays_market(config: OptionsMarketConfig, clock: Clock) -> OptionsMarketConfig:
    """`config` on the clock's day (UTC) from its time of day: the simulated market's times
    and expiries agree with a live engine's wall clock (while `step_s` real seconds pass per
    `step_ns` of market time)."""
    wall = clock.wall_ns()
    day = dt.date(1970, 1, 1) + dt.timedelta(days=wall // DAY_NS)
    return dataclasses.replace(config, trade_date=day, start_ns=wall % DAY_NS)


class OptionsLiveVenue:
    """The two venues of the module docstring (`start`, `stop`; `paused` stops the market's
    steps, the sessions go on)."""

    def __init__(self, config: OptionsVenueConfig) -> None:
        self.config = config
        self.market = OptionsMarket(config.market)
        participants = [
            ParticipantConfig(comp_id, config.username, config.password,
                              heartbeat_interval_s=config.heartbeat_interval_s)
            for comp_id in (config.options_participant, config.equity_participant)
        ]  # fmt: skip
        self.gateway = VenueGateway(
            self.market.engine, participants, lambda: self.market.now_ns, LiveClock(),
            exec_id_prefix="SIM-",
        )  # fmt: skip
        settings = acceptor_settings(config.options_comp_id, participants[:1], config.port)
        settings += acceptor_settings(config.equity_comp_id, participants[1:], config.port)
        self.acceptor = FixAcceptor(
            settings,
            self._application,
            authenticate=self.gateway.authenticate,
            on_event=self.gateway.on_session_event,
        )
        underlying = self.market.underlying
        self.options_publisher = OptionsItchPublisher(
            self.market.symbols, underlying=underlying.symbol
        )
        self.equity_publisher = ItchPublisher([underlying])
        self.options_md: VenueMarketData | None = None
        self.equity_md: VenueMarketData | None = None
        self.fix_port = 0
        self.paused = False
        self.steps = 0
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        config = self.config
        self.fix_port = await self.acceptor.start(port=config.port)
        feeds = []
        for name, where, publisher, instruments in (
            ("OPTS", config.options_feed, self.options_publisher, ()),
            ("EQTY", config.equity_feed, self.equity_publisher, [self.market.underlying]),
        ):
            group, port = where or fresh_multicast_address()
            md = await VenueMarketData.open(
                MarketDataConfig(name, group, port), instruments, publisher=publisher
            )
            md.start_of_day(self.market.now_ns)
            feeds.append(md)
        self.options_md, self.equity_md = feeds
        self._task = asyncio.get_running_loop().create_task(self._run())

    def _application(self, settings):
        self.gateway.application_for(settings)  # a known participant, else ValueError
        return self

    def on_message(self, session, message) -> None:
        """The acceptor sessions' application: an order, then its book events out at once."""
        self.gateway.on_message(session, message)
        self._publish()

    def _publish(self) -> None:
        options, underlying = split_events(
            self.market.engine.take_book_events(), self.options_publisher
        )
        self.options_md.publish_events(options)
        self.equity_md.publish_events(underlying)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.step_s)
            if self.paused:
                continue
            self.market.step()
            self.steps += 1
            self.gateway.dispatch_reports()
            for session in self.gateway.take_touched_sessions():
                connection = self.acceptor.connection_for(session)
                if connection is not None:
                    connection.flush()
            self._publish()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.acceptor.stop()
        for md in (self.options_md, self.equity_md):
            if md is not None:
                await md.close()

    def run_file(self, store: str = "run/fixstore") -> str:
        """A complete `calarb run` file for these venues: the options strategy (its defaults)
        on every listed option, both venues (FIX stores under `store`, relative to the file).
        The listings depend on the trade date, so the file is written for this venue's day."""
        market = self.market
        listed = ",\n    ".join(f'"{symbol}"' for symbol in market.symbols)
        return f"""# calarb run --config THIS_FILE: the options calibration-arbitrage strategy on the
# simulator of `calarb options venue` (written by it for trade date {market.config.trade_date}).
[engine]
journal = "run/options-journal.jsonl"
kill_file = "run/KILL"
pid_file = "run/calarb-options.pid"
timer_interval_ms = 10

[strategy]
class = "calarb.trading.options_strategy:OptionsCalibrationStrategy"
underlying = "{market.underlying.symbol}"
trade_date = {market.config.trade_date.isoformat()}
fee_per_contract = {FEE_PER_CONTRACT}             # a contract, in the entry edge (1/10,000 units)
options = [
    {listed},
]
[strategy.limits]                   # calarb.trading.options_risk.OptionsRiskLimits
max_delta_shares = 1500.0
max_vega_per_vol_point = 200.0
""" + self.run_file_venues(store)

    def run_file_venues(self, store: str) -> str:
        """The run file's `[[venues]]` tables for these two venues (FIX stores under
        `store`)."""
        config = self.config
        tables = []
        for name, comp_id, participant, md, protocol in (
            ("OPTV", config.options_comp_id, config.options_participant, self.options_md, "itto"),
            ("EQTY", config.equity_comp_id, config.equity_participant, self.equity_md, "itch"),
        ):
            host, retransmission_port = md.retransmission_address
            tables.append(
                f"""
[[venues]]
name = "{name}"
[venues.fix]
BeginString = "FIX.4.4"
SenderCompID = "{participant}"
TargetCompID = "{comp_id}"
SocketConnectHost = "127.0.0.1"
SocketConnectPort = {self.fix_port}
HeartBtInt = {config.heartbeat_interval_s}
Username = "{config.username}"
Password = "{config.password}"
FileStorePath = "{store}/{name}"
[venues.feed]
group = "{md.config.group}"
port = {md.config.port}
retransmission_host = "{host}"
retransmission_port = {retransmission_port}
protocol = "{protocol}"
"""
                + (OPTION_FEES if protocol == "itto" else "")
            )
        return "".join(tables)


OPTION_FEES = f"""[venues.fees]                        # per contract at the options venue
taker = {FEE_PER_CONTRACT}
maker = {FEE_PER_CONTRACT}
"""
"""The options venue's fees in the run file, so the engine's portfolio (and its daily-loss
limit) charges them: a fill's fee is contracts x rate, the strategy's `fee_per_contract`."""


async def serve(
    config: OptionsVenueConfig, run_file: Path | None, duration_s: float | None,
    announce: Callable[[dict], None],
) -> None:  # fmt: skip
    """`calarb options venue`: start, write the run file (if asked), `announce` the addresses
    and {"ready": true}, run until SIGINT/SIGTERM or `duration_s`, stop, `announce` the
    figures."""
    venue = OptionsLiveVenue(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await venue.start()
    try:
        if run_file is not None:
            run_file.parent.mkdir(parents=True, exist_ok=True)
            run_file.write_text(venue.run_file())
        market = venue.market
        announce({
            "fix_port": venue.fix_port, "trade_date": market.config.trade_date.isoformat(),
            "options": len(market.symbols), "underlying": market.underlying.symbol,
            "options_feed": list(venue.options_md.group_address),
            "equity_feed": list(venue.equity_md.group_address),
            "run_file": str(run_file) if run_file else None,
        })  # fmt: skip
        announce({"ready": True})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration_s)
    finally:
        await venue.stop()
    announce({"steps": venue.steps, "plants": len(venue.market.plants),
              "gateway": venue.gateway.stats.as_dict()})  # fmt: skip
