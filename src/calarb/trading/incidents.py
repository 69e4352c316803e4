"""What the live engine did about a lost venue, one line per action for the operator.

A venue's FIX session drops and comes back (a restart, a network failure), orders are
reconciled, the strategy's legging control hedges or unwinds a leg the lost venue left
naked. Each of these is a log line at INFO or WARNING and an entry in the run's summary
(`incidents`). Read from the timer every `CHECK_INTERVAL_NS` (counters and flags the engine
keeps anyway), never from the hot path."""

from __future__ import annotations

import logging
from typing import Any

from calarb.fix.events import Disconnected, LoggedOn

log = logging.getLogger(__name__)

CHECK_INTERVAL_NS = 100_000_000
MAX_INCIDENTS = 1_000  # kept for the summary; the log has every line

# strategy counter -> what the legging control did
_LEGGING_ACTIONS = (
    ("legging_events", "left legged (one leg filled, the other not in time)"),
    ("hedges", "hedging the lagging leg at the far touch (IOC)"),
    ("unwinds", "unwinding the filled leg"),
    ("reprices", "repricing the lagging leg"),
    ("entries_abandoned", "entry abandoned before any fill, working orders cancelled"),
)


class IncidentLog:
    """Session losses and returns, reconciliations, legging actions: logged and kept."""

    def __init__(self, engine: Any, gateways: dict[str, Any]) -> None:
        self.engine = engine
        self.gateways = gateways
        self.incidents: list[dict[str, Any]] = []
        self.dropped = 0
        self._lost_ns: dict[str, int] = {}
        self._logons: dict[str, int] = {}
        self._reconciliations = {name: 0 for name in gateways}
        self._pair_counters: dict[str, dict[str, int]] = {}
        self._pair_told: dict[tuple[str, str], str] = {}  # the holding last told per action
        self._next_check_ns = 0

    def record(self, now_ns: int, what: str, text: str, level: int = logging.INFO) -> None:
        log.log(level, "%s", text)
        if len(self.incidents) < MAX_INCIDENTS:
            self.incidents.append({"t_ns": now_ns, "what": what, "text": text})
        else:
            self.dropped += 1

    def on_session_event(self, venue: str, event: Any, now_ns: int) -> None:
        """After the gateway has seen the event (connection state, reconciliation started)."""
        gateway = self.gateways[venue]
        if isinstance(event, Disconnected):
            if venue in self._lost_ns:
                return
            self._lost_ns[venue] = now_ns
            if event.reason.startswith("Logout response"):  # our own Logout, answered
                self.record(now_ns, "logged_out", f"{venue}: FIX session logged out")
            elif self._logons.get(venue):
                open_orders = len(self.engine.oms.open_orders(venue=venue))
                self.record(
                    now_ns, "session_lost",
                    f"{venue}: FIX session lost ({event.reason}); {open_orders} order(s) open "
                    "there, routing around it until it is back",
                    logging.WARNING,
                )  # fmt: skip
        elif isinstance(event, LoggedOn):
            self._logons[venue] = self._logons.get(venue, 0) + 1
            lost = self._lost_ns.pop(venue, None)
            if self._logons[venue] == 1:
                return
            down = f" after {(now_ns - lost) / 1e9:.1f} s" if lost is not None else ""
            state = gateway.reconciliation
            todo = (
                f"reconciling {len(state.awaited)} open order(s) by OrderStatusRequest"
                if state is not None
                else "no open order there to reconcile"
            )
            self.record(
                now_ns, "session_back",
                f"{venue}: FIX logged on again{down}, sequence numbers continued (next out "
                f"{event.next_sender_seq}, next in {event.next_target_seq}); {todo}",
            )  # fmt: skip

    def on_timer(self, now_ns: int) -> None:
        if now_ns < self._next_check_ns:
            return
        self._next_check_ns = now_ns + CHECK_INTERVAL_NS
        for venue, gateway in self.gateways.items():
            done = gateway.reconciliations
            if done != self._reconciliations[venue]:
                self._reconciliations[venue] = done
                differences = gateway.differences
                self.record(
                    now_ns, "reconciled",
                    f"{venue}: open orders reconciled ({done} so far): "
                    f"{len(differences)} difference(s) repaired in all",
                )  # fmt: skip
        pairs = getattr(self.engine.strategy, "pairs", None)
        if not pairs:
            return
        for name, state in pairs.items():
            counters = state.counters
            seen = self._pair_counters.setdefault(name, {})
            for counter, action in _LEGGING_ACTIONS:
                value = getattr(counters, counter)
                if value > seen.get(counter, 0):
                    seen[counter] = value
                    positions = ", ".join(f"{leg.symbol} {leg.position:+d}" for leg in state.legs)
                    if self._pair_told.get((name, counter)) == positions:
                        continue  # a retry of the same action on the same holding: counted
                    self._pair_told[name, counter] = positions
                    self.record(
                        now_ns, counter,
                        f"pair {name}: {action} (#{value}; holding {positions})",
                    )  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return {"lines": [i["text"] for i in self.incidents], "not_kept": self.dropped}
