"""Z-score trading rules for a spread: enter, exit, stop, maximum holding time.

Rules (`SignalRules(entry, exit, stop, max_holding_ns)`, 0 <= exit < entry < stop):

- flat: z <= -entry -> ENTER_LONG (buy the spread: buy A, sell beta x B);
  z >= +entry -> ENTER_SHORT (sell A, buy beta x B).
- long: z <= -stop -> STOP; held for >= max_holding_ns -> STOP; z >= -exit -> EXIT
  (|z| <= exit, or z overshooting through the band: a jump past zero also exits).
  Short is the mirror image.
- after a STOP the signal stays flat until |z| < entry again, so a stopped-out spread that is
  still stretched is not re-entered on the next tick.

An exit and an entry never happen on the same observation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from calarb.model.validation import ModelInputError


class SpreadPosition(enum.IntEnum):
    SHORT = -1
    FLAT = 0
    LONG = 1


class SignalAction(enum.Enum):
    HOLD = "hold"
    ENTER_LONG = "enter_long"
    ENTER_SHORT = "enter_short"
    EXIT = "exit"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class SignalRules:
    entry: float = 2.0
    exit: float = 0.5
    stop: float = 4.0
    max_holding_ns: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.exit < self.entry < self.stop:
            raise ModelInputError(
                f"thresholds must satisfy 0 <= exit < entry < stop, got exit={self.exit} "
                f"entry={self.entry} stop={self.stop}"
            )
        if self.max_holding_ns is not None and self.max_holding_ns <= 0:
            raise ModelInputError(f"max_holding_ns must be positive, got {self.max_holding_ns}")


class SpreadSignal:
    """The rules as a state machine: `on_z(z, time_ns)` returns the action to take."""

    __slots__ = ("rules", "position", "entered_ns", "stopped")

    def __init__(self, rules: SignalRules) -> None:
        self.rules = rules
        self.position = SpreadPosition.FLAT
        self.entered_ns = 0
        self.stopped = False

    def on_z(self, z: float, time_ns: int) -> SignalAction:
        rules = self.rules
        if z != z:  # NaN
            raise ModelInputError(f"z-score is NaN at t={time_ns}")
        if self.position is _FLAT:
            if self.stopped:
                if abs(z) < rules.entry:
                    self.stopped = False
                return _HOLD
            if z <= -rules.entry:
                self.position = _LONG
                self.entered_ns = time_ns
                return _ENTER_LONG
            if z >= rules.entry:
                self.position = _SHORT
                self.entered_ns = time_ns
                return _ENTER_SHORT
            return _HOLD
        signed = z * self.position  # negative while the spread is still stretched
        if -signed >= rules.stop or (
            rules.max_holding_ns is not None and time_ns - self.entered_ns >= rules.max_holding_ns
        ):
            self.position = _FLAT
            self.stopped = True
            return _STOP
        if signed >= -rules.exit:
            self.position = _FLAT
            return _EXIT
        return _HOLD


# Module constants: an enum attribute lookup is slow on the per-observation path.
_FLAT, _LONG, _SHORT = SpreadPosition.FLAT, SpreadPosition.LONG, SpreadPosition.SHORT
_HOLD, _STOP, _EXIT = SignalAction.HOLD, SignalAction.STOP, SignalAction.EXIT
_ENTER_LONG, _ENTER_SHORT = SignalAction.ENTER_LONG, SignalAction.ENTER_SHORT


def signal_batch(
    z: np.ndarray, times_ns: np.ndarray, rules: SignalRules
) -> tuple[np.ndarray, list[SignalAction]]:
    """Run the rules over a z-score series: (position after each observation, actions)."""
    z = np.asarray(z, dtype=np.float64)
    times_ns = np.asarray(times_ns, dtype=np.int64)
    if z.shape != times_ns.shape:
        raise ModelInputError(f"z has shape {z.shape} and times {times_ns.shape}; they must match")
    signal = SpreadSignal(rules)
    positions = np.empty(z.size, dtype=np.int8)
    actions = []
    for i, (value, time_ns) in enumerate(zip(z.tolist(), times_ns.tolist(), strict=True)):
        actions.append(signal.on_z(value, time_ns))
        positions[i] = signal.position
    return positions, actions
