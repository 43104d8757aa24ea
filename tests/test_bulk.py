"""generate_many: lazy input, the in-flight limit, isolation of failures, clean exits."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import seedance_async as sa
from seedance_async.testing import FakeSeedanceServer

from .conftest import FAST, KEY, QUICK_RETRY, own_tasks, req


async def test_thousand_jobs_respect_max_in_flight_and_post_once_each() -> None:
    async with FakeSeedanceServer(time_scale=0.003, spread=0.2, seed=3) as fake:
        async with sa.SeedanceClient(
            KEY, base_url=fake.url, poll=FAST, retry=QUICK_RETRY, max_in_flight=100
        ) as client:
            requests = (req(f"job {i}", resolution="480p") for i in range(1000))
            outcomes = [o async for o in client.generate_many(requests, concurrency=150)]
    assert len(outcomes) == 1000
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:3]
    assert sorted(o.index for o in outcomes) == list(range(1000))
    assert fake.post_count == 1000 and len(fake.jobs) == 1000
    assert all(fake.posts_with_prompt(f"job {i}") == 1 for i in (0, 499, 999))
    assert fake.max_concurrent_jobs() <= 100


async def test_one_failure_never_stops_the_others(
    client: sa.SeedanceClient, fake: FakeSeedanceServer
) -> None:
    fake.script("bad", status="failed", fail=True)
    requests: list[object] = [req("good 1"), req("bad 2"), "not a request", req("good 3")]
    outcomes = {o.index: o async for o in client.generate_many(requests)}  # type: ignore[arg-type]
    assert outcomes[0].ok and outcomes[3].ok
    assert isinstance(outcomes[1].error, sa.GenerationFailed)
    assert outcomes[1].generation_id is not None
    assert isinstance(outcomes[2].error, sa.InvalidRequestError)


async def test_input_is_read_lazily(client: sa.SeedanceClient) -> None:
    pulled = 0

    def endless() -> Iterator[sa.VideoRequest]:
        nonlocal pulled
        while True:
            pulled += 1
            yield req(f"lazy {pulled}")

    got = 0
    async for _ in client.generate_many(endless(), concurrency=4):
        got += 1
        if got == 6:
            break
    assert pulled <= 6 + 4 + 4  # done + in flight + buffered


async def test_async_iterable_input(client: sa.SeedanceClient) -> None:
    async def source() -> AsyncIterator[sa.VideoRequest]:
        for i in range(5):
            yield req(f"async {i}")

    outcomes = [o async for o in client.generate_many(source(), concurrency=2)]
    assert sorted(o.index for o in outcomes) == list(range(5))


async def test_breaking_out_stops_submitting_and_leaves_no_task() -> None:
    async with FakeSeedanceServer(processing_time=0.1) as fake:
        async with sa.SeedanceClient(KEY, base_url=fake.url, poll=FAST) as client:
            before = own_tasks()
            gen = client.generate_many((req(f"b {i}") for i in range(100)), concurrency=5)
            async for outcome in gen:
                assert outcome.ok
                break
            await gen.aclose()
            await asyncio.sleep(0)
            assert own_tasks() == before
            posted = fake.post_count
            await asyncio.sleep(0.3)
            assert fake.post_count == posted <= 10
            assert client.in_flight == 0


async def test_cancelling_the_consumer_leaves_no_task() -> None:
    async with FakeSeedanceServer(processing_time=0.5) as fake:
        async with sa.SeedanceClient(KEY, base_url=fake.url, poll=FAST) as client:
            before = own_tasks()

            async def consume() -> None:
                async for _ in client.generate_many(req(f"c {i}") for i in range(50)):
                    pass

            task = asyncio.ensure_future(consume())
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0)
            assert own_tasks() == before
            assert client.in_flight == 0


async def test_source_errors_surface(client: sa.SeedanceClient) -> None:
    def broken() -> Iterator[sa.VideoRequest]:
        yield req("fine")
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        async for _ in client.generate_many(broken()):
            pass


async def test_vendor_page_example_runs_against_the_fake(tmp_path: Path) -> None:
    source = (Path(__file__).parent / "data" / "vendor_example.py").read_text()
    async with FakeSeedanceServer(processing_time=0.0) as fake:
        script = source.replace('api_key = "<YOUR_AIMLAPI_KEY>"', 'api_key = "sk-vendor-example"')
        script = script.replace(
            'base_url = "https://api.aimlapi.com/v2"', f'base_url = "{fake.url}/v2"'
        )
        assert script.count(fake.url) == 1 and "sk-vendor-example" in script
        (tmp_path / "example.py").write_text(script)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(tmp_path / "example.py"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        text = out.decode()
        assert proc.returncode == 0, text
        assert "'status': 'completed'" in text and "'video': {'url': 'http" in text
        assert fake.api_requests("POST")[0].path == "/v2/generate/video/bytedance/generation"
        assert fake.api_requests("POST")[0].json["duration"] == "5"
