"""Numba compilation, made visible: how long a piece of work spent compiling kernels.

calarb's Numba kernels are compiled with `cache=True`: the first run after an install (or
after their source changed) compiles them and writes the machine code beside the source (or
in `NUMBA_CACHE_DIR`); later runs load it in milliseconds. `CompileWatch` listens to Numba's
"numba:compile" events, which fire only for a real compilation (never for a cache load), so
it can say that a run compiled, how long that took, and let rates leave that time out.
"""

from __future__ import annotations

import time
from collections.abc import Callable

COMPILE_NOTICE = (
    "compiling the Numba kernels (once per install: the machine code is cached for later "
    "runs; this takes a while)..."
)


class CompileWatch:
    """A context manager: `seconds` spent compiling Numba kernels inside it (outermost
    compilations only), `compiled` (how many). `on_first` is called when the first
    compilation starts (e.g. to print `COMPILE_NOTICE`)."""

    def __init__(self, on_first: Callable[[], None] | None = None) -> None:
        self.on_first = on_first
        self.seconds = 0.0
        self.compiled = 0
        self._depth = 0
        self._started = 0.0
        self._listener = None

    def __enter__(self) -> CompileWatch:
        from numba.core import event

        watch = self

        class _Listener(event.Listener):
            def on_start(self, _event) -> None:
                if watch._depth == 0:
                    if watch.compiled == 0 and watch.on_first is not None:
                        watch.on_first()
                    watch._started = time.perf_counter()
                watch._depth += 1

            def on_end(self, _event) -> None:
                watch._depth -= 1
                if watch._depth == 0:
                    watch.compiled += 1
                    watch.seconds += time.perf_counter() - watch._started

        self._listener = _Listener()
        event.register("numba:compile", self._listener)
        return self

    def __exit__(self, *exc_info) -> None:
        from numba.core import event

        event.unregister("numba:compile", self._listener)
