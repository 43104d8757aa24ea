"""Pytest fixtures for testing code that uses seedance_async.

Load them with ``pytest_plugins = ["seedance_async.testing.pytest_plugin"]`` in your
``conftest.py`` (pytest-asyncio required). Then::

    async def test_my_app(seedance_fake, seedance_client):
        gen = await seedance_client.generate(VideoRequest(prompt="a cat"), timeout=30)
        assert seedance_fake.post_count == 1

Both fixtures run on compressed time: jobs take about 1% of the vendor's published
durations, and the client's poll policy is compressed to match.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .._client import SeedanceClient
from .._config import PollPolicy
from ._fake import FakeSeedanceServer

TEST_API_KEY = "sk-test-not-a-real-key"
TIME_SCALE = 0.01


@pytest_asyncio.fixture
async def seedance_fake() -> AsyncIterator[FakeSeedanceServer]:
    """A running ``FakeSeedanceServer`` (jobs take ~0.4-0.6 s)."""
    async with FakeSeedanceServer(time_scale=TIME_SCALE) as fake:
        yield fake


@pytest_asyncio.fixture
async def seedance_client(seedance_fake: FakeSeedanceServer) -> AsyncIterator[SeedanceClient]:
    """A ``SeedanceClient`` pointed at ``seedance_fake``, polling on compressed time."""
    policy = PollPolicy(time_scale=TIME_SCALE, max_polls_per_second=500)
    async with SeedanceClient(TEST_API_KEY, base_url=seedance_fake.url, poll=policy) as client:
        yield client
