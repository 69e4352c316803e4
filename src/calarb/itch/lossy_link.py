"""`LossyLink`: seeded, repeatable drops, reordering and duplicates between a MoldUDP64 sender
and its socket, for tests and the demo (re-exported by `calarb.itch.transport`)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(slots=True)
class LinkStats:
    packets_in: int = 0
    packets_out: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0


class LossyLink:
    """Seeded fault injector between a sender and its socket: each packet is dropped with
    probability `drop`, else possibly held back and released after the next `reorder_depth`
    packets (probability `reorder`), and possibly sent twice (probability `duplicate`).
    Same seed and same packets give the same output."""

    def __init__(
        self,
        seed: int,
        *,
        drop: float = 0.0,
        reorder: float = 0.0,
        duplicate: float = 0.0,
        reorder_depth: int = 3,
    ) -> None:
        for name, value in (("drop", drop), ("reorder", reorder), ("duplicate", duplicate)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} probability {value} is outside [0, 1]")
        self._random = random.Random(seed)
        self.drop = drop
        self.reorder = reorder
        self.duplicate = duplicate
        self.reorder_depth = max(1, reorder_depth)
        self._held: list[list] = []  # [packets still to pass, packet]
        self.stats = LinkStats()

    def process(self, packet: bytes) -> list[bytes]:
        """The packets to put on the wire now, given `packet` from the sender."""
        stats = self.stats
        stats.packets_in += 1
        out = self._release_due()
        draw = self._random.random
        if draw() < self.drop:
            stats.dropped += 1
        elif draw() < self.reorder:
            stats.reordered += 1
            self._held.append([self.reorder_depth, packet])
        else:
            out.append(packet)
        if out and draw() < self.duplicate:
            stats.duplicated += 1
            out.append(out[self._random.randrange(len(out))])
        stats.packets_out += len(out)
        return out

    def flush(self) -> list[bytes]:
        """Release every held-back packet."""
        out = [packet for _, packet in self._held]
        self._held.clear()
        self.stats.packets_out += len(out)
        return out

    def _release_due(self) -> list[bytes]:
        due = []
        for held in self._held:
            held[0] -= 1
            if held[0] <= 0:
                due.append(held[1])
        if due:
            self._held = [held for held in self._held if held[0] > 0]
        return due
