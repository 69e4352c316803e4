"""Plain-text tables for terminal output (positions, attribution): aligned columns, numbers
right-aligned, no dependency."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def text_table(headers: Sequence[str], rows: Iterable[Sequence[object]], indent: str = "  ") -> str:
    """Columns aligned under `headers`; numbers right-aligned, text left-aligned."""
    rows = [list(row) for row in rows]
    cells = [list(headers)] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        bool(rows) and all(isinstance(row[i], int | float) for row in rows)
        for i in range(len(headers))
    ]
    lines = []
    for row in cells:
        parts = [
            text.rjust(width) if is_number else text.ljust(width)
            for text, width, is_number in zip(row, widths, numeric, strict=True)
        ]
        lines.append(indent + "  ".join(parts).rstrip())
    return "\n".join(lines)


def positions_table(
    positions: Mapping[str, int], marks: Mapping[str, float | None] | None = None
) -> str:
    """Positions as a table (symbol, shares; with marks: mark and market value in currency
    units); "flat" when every position is zero."""
    held = {symbol: shares for symbol, shares in sorted(positions.items()) if shares}
    if not held:
        return "  flat (no position)"
    if marks is None:
        return text_table(("symbol", "shares"), held.items())
    rows = []
    for symbol, shares in held.items():
        mark = marks.get(symbol)
        rows.append((symbol, shares, mark if mark is not None else "-",
                     shares * mark if mark is not None else "-"))  # fmt: skip
    return text_table(("symbol", "shares", "mark", "market value"), rows)
