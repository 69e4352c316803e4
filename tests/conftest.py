"""Shared test fixtures: the third-party data folder beside the repo."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` relative to the repo root; skips with a reason if it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"third-party data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def default_event_loop_policy():
    """Commands under test may switch asyncio to uvloop's policy (process-wide); put the
    default back so one test's choice never leaks into the next."""
    yield
    asyncio.set_event_loop_policy(None)
