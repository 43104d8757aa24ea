from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

import seedance_async as sa
from seedance_async.testing import FakeClock, FakeSeedanceServer

pytest_plugins = ["seedance_async.testing.pytest_plugin"]

KEY = "sk-test-not-a-real-key"
FAST = sa.PollPolicy(time_scale=0.01, max_polls_per_second=1000, max_concurrent_polls=64)
QUICK_RETRY = sa.RetryPolicy(backoff_base=0.001, backoff_cap=0.01, retry_after_cap=0.01)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSeedanceServer]:
    async with FakeSeedanceServer(processing_time=0.2) as server:
        yield server


@pytest_asyncio.fixture
async def client(fake: FakeSeedanceServer) -> AsyncIterator[sa.SeedanceClient]:
    async with sa.SeedanceClient(
        KEY, base_url=fake.url, poll=FAST, retry=QUICK_RETRY, request_timeout=5
    ) as c:
        yield c


def req(prompt: str = "Mona Lisa puts on glasses with her hands.", **kw: object) -> sa.VideoRequest:
    kw.setdefault("image_url", "https://example.com/mona.jpg")
    return sa.VideoRequest(prompt=prompt, **kw)  # type: ignore[arg-type]


def own_tasks() -> set[object]:
    """Tasks now alive, less the fake server's own connection handlers."""
    import asyncio

    return {t for t in asyncio.all_tasks() if "RequestHandler" not in repr(t.get_coro())}
