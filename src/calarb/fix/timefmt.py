"""FIX UTCTimestamp text <-> epoch nanoseconds (no clock is read here)."""

from __future__ import annotations

import calendar
import re
import time

_TIMESTAMP = re.compile(rb"(\d{4})(\d{2})(\d{2})-(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?")


class TimestampFormatter:
    """Formats epoch nanoseconds as ``YYYYMMDD-HH:MM:SS.sss``; the date-time part is cached per
    second, so a burst of messages pays for formatting only the milliseconds."""

    def __init__(self, millis: bool = True) -> None:
        self._second = -1
        self._prefix = b""
        self.millis = millis

    def __call__(self, wall_ns: int) -> bytes:
        return self.format(wall_ns)

    def format(self, wall_ns: int) -> bytes:
        """The text of `wall_ns` (a method as well as the call: compiled callers reach it
        without building an argument tuple)."""
        second = wall_ns // 1_000_000_000  # (compiled: C division, no divmod tuple)
        rest = wall_ns - second * 1_000_000_000
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)).encode()
        if not self.millis:
            return self._prefix
        return self._prefix + _MILLIS_TEXT[rest // 1_000_000]


_MILLIS_TEXT = tuple(b".%03d" % millis for millis in range(1000))
"""".000" to ".999": the milliseconds of a timestamp by lookup rather than by formatting."""


_SECONDS_CACHE: dict[bytes, int] = {}


def parse_utc_timestamp(text: bytes) -> int:
    """``YYYYMMDD-HH:MM:SS[.fff...]`` to epoch nanoseconds; ValueError naming the text."""
    seconds = _SECONDS_CACHE.get(text[:17])
    if seconds is not None:
        size = len(text)
        if size == 21 and text[17] == 46 and (millis := text[18:]).isdigit():  # 46: '.'
            return seconds * 1_000_000_000 + int(millis) * 1_000_000
        if size == 17:
            return seconds * 1_000_000_000
        fraction = text[18:]
        if text[17:18] == b"." and fraction.isdigit() and size <= 27:
            return seconds * 1_000_000_000 + int(fraction.ljust(9, b"0"))
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a UTCTimestamp (YYYYMMDD-HH:MM:SS[.sss])")
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        seconds = calendar.timegm(
            (int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0)
        )
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a valid date and time") from None
    nanos = int((fraction or b"0").ljust(9, b"0")) if fraction else 0
    if len(_SECONDS_CACHE) > 4096:
        _SECONDS_CACHE.clear()
    _SECONDS_CACHE[text[:17]] = seconds
    return seconds * 1_000_000_000 + nanos
