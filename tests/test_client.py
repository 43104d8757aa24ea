"""SeedanceClient end to end against the fake server."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest

import seedance_async as sa
from seedance_async.testing import FakeSeedanceServer

from .conftest import FAST, KEY, QUICK_RETRY, req


def test_key_from_env_or_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIMLAPI_API_KEY", raising=False)
    with pytest.raises(sa.SeedanceError, match="AIMLAPI_API_KEY"):
        sa.SeedanceClient()
    monkeypatch.setenv("AIMLAPI_API_KEY", "sk-from-env")
    monkeypatch.setenv("SEEDANCE_BASE_URL", "http://127.0.0.1:9")
    client = sa.SeedanceClient()
    assert "sk-from-env" not in repr(client)
    assert "127.0.0.1:9" in repr(client)


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(sa.SeedanceError, match="plain http"):
        sa.SeedanceClient(KEY, base_url="http://api.example.com")
    sa.SeedanceClient(KEY, base_url="http://api.example.com", allow_insecure_http=True)
    sa.SeedanceClient(KEY, base_url="http://localhost:8080")
    sa.SeedanceClient(KEY, base_url="http://[::1]:8080")


async def test_generate_then_download(
    client: sa.SeedanceClient, fake: FakeSeedanceServer, tmp_path: Path
) -> None:
    gen = await client.generate(req(), timeout=30)
    assert gen.is_completed and gen.video_url
    assert gen.status is sa.GenerationStatus.COMPLETED
    out = await client.download(gen, tmp_path / "out.mp4")
    data = out.read_bytes()
    assert data[4:8] == b"ftyp"
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind
    files = fake.file_requests
    assert files and all(r.host == "localhost" for r in files)
    assert all("Authorization" not in r.headers for r in files)
    assert all(r.headers.get("Authorization") == f"Bearer {KEY}" for r in fake.api_requests())


async def test_submit_retrieve_wait(client: sa.SeedanceClient, fake: FakeSeedanceServer) -> None:
    gen = await client.submit(req())
    assert gen.status is sa.GenerationStatus.QUEUED and gen.id in fake.jobs
    assert client.in_flight == 1
    seen = await client.retrieve(gen.id)
    assert seen.id == gen.id
    done = await client.wait(gen.id, timeout=30)
    assert done.is_completed
    assert client.in_flight == 0
    again = await client.wait(gen.id, timeout=30)  # waiting on a finished job: one read
    assert again.video_url == done.video_url
    assert client.usage.submitted == 1 and client.usage.completed >= 1
    assert client.usage.credits_used == fake.jobs[gen.id].credits


@pytest.mark.parametrize(
    ("status", "shape"),
    [("error", "name"), ("failed", "detail"), ("expired", "name"), ("cancelled", "name")],
)
async def test_failed_jobs_raise_generation_failed(
    client: sa.SeedanceClient, fake: FakeSeedanceServer, status: str, shape: str
) -> None:
    fake.script("doomed", status=status, fail=True, error_shape=shape)  # type: ignore[arg-type]
    with pytest.raises(sa.GenerationFailed) as info:
        await client.generate(req("doomed cat"), timeout=30)
    gen = info.value.generation
    assert gen.status is sa.GenerationStatus.ERROR and gen.raw_status == status
    assert gen.error is not None and gen.error.message
    assert client.in_flight == 0


async def test_alias_status_words() -> None:
    words = {"queued": "waiting", "generating": "active", "completed": "succeeded"}
    async with (
        FakeSeedanceServer(processing_time=0.3, status_words=words, id_style="nanoid") as fake,
        sa.SeedanceClient(KEY, base_url=fake.url, poll=FAST) as client,
    ):
        seen = [g.raw_status async for g in client.updates((await client.submit(req())).id)]
    assert seen[0] == "waiting" and seen[-1] == "succeeded"
    assert "active" in seen


async def test_wait_timeout_carries_the_id_and_frees_the_slot() -> None:
    async with (
        FakeSeedanceServer(processing_time=60) as fake,
        sa.SeedanceClient(KEY, base_url=fake.url, poll=FAST, max_in_flight=1) as client,
    ):
        gen = await client.submit(req())
        with pytest.raises(sa.GenerationTimeout) as info:
            await client.wait(gen.id, timeout=0.3)
        assert info.value.generation_id == gen.id
        assert client.in_flight == 0
        await asyncio.wait_for(client.submit(req()), 5)  # the slot is free again


async def test_client_refuses_use_after_close(fake: FakeSeedanceServer) -> None:
    client = sa.SeedanceClient(KEY, base_url=fake.url)
    async with client:
        pass
    assert client.closed
    with pytest.raises(sa.ClientClosedError):
        await client.submit(req())
    with pytest.raises(sa.ClientClosedError):
        async with client:
            pass


async def test_client_works_without_async_with(fake: FakeSeedanceServer) -> None:
    client = sa.SeedanceClient(KEY, base_url=fake.url, poll=FAST)
    try:
        assert (await client.generate(req(), timeout=30)).is_completed
    finally:
        await client.aclose()


async def test_borrowed_session_is_not_closed(fake: FakeSeedanceServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with sa.SeedanceClient(KEY, base_url=fake.url, session=session, poll=FAST) as client:
            await client.generate(req(), timeout=30)
        assert not session.closed


async def test_close_with_jobs_in_flight_wakes_waiters_cleanly() -> None:
    before = asyncio.all_tasks()
    async with FakeSeedanceServer(processing_time=60) as fake:
        client = sa.SeedanceClient(KEY, base_url=fake.url, poll=FAST, max_in_flight=300)
        waits = []
        async with client:
            for _ in range(200):
                gen = await client.submit(req())
                waits.append(asyncio.ensure_future(client.wait(gen.id, timeout=None)))
            await asyncio.sleep(0.1)
        results = await asyncio.gather(*waits, return_exceptions=True)
        assert all(isinstance(r, sa.ClientClosedError) for r in results)
        assert client.in_flight == 0
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before


async def test_download_refreshes_an_expired_url(
    client: sa.SeedanceClient, fake: FakeSeedanceServer, tmp_path: Path
) -> None:
    gen = await client.generate(req(), timeout=30)
    fake.expire_video_urls()
    out = await client.download(gen, tmp_path / "new" / "dir" / "v.mp4")
    assert out.stat().st_size > 0
    assert [r.query.get("v") for r in fake.file_requests] == ["1", "2"]


async def test_download_failure_leaves_no_file(
    client: sa.SeedanceClient, fake: FakeSeedanceServer, tmp_path: Path
) -> None:
    gen = await client.generate(req(), timeout=30)
    with pytest.raises(sa.APIConnectionError, match="cap"):
        await client.download(gen, tmp_path / "v.mp4", max_bytes=100)
    assert list(tmp_path.iterdir()) == []
    pending = await client.submit(req())
    with pytest.raises(sa.SeedanceError, match="no video"):
        await client.download(pending, tmp_path / "w.mp4")


async def test_ids_are_logged_at_info(
    client: sa.SeedanceClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="seedance_async"):
        gen = await client.submit(req())
    assert any(gen.id in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)


async def test_in_flight_limit_blocks_submit(fake: FakeSeedanceServer) -> None:
    slow = FakeSeedanceServer(processing_time=60)
    async with (
        slow,
        sa.SeedanceClient(KEY, base_url=slow.url, poll=FAST, max_in_flight=2) as client,
    ):
        await client.submit(req())
        await client.submit(req())
        third = asyncio.ensure_future(client.submit(req()))
        await asyncio.sleep(0.2)
        assert not third.done() and slow.post_count == 2
        third.cancel()
        with pytest.raises(asyncio.CancelledError):
            await third
        assert client.in_flight == 2


async def test_retry_policy_is_frozen_and_evolvable() -> None:
    import attrs

    policy = sa.RetryPolicy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.attempts = 3  # type: ignore[misc]
    assert attrs.evolve(policy, attempts=2).attempts == 2
    with pytest.raises(ValueError):
        sa.PollPolicy(min_interval=0)
    assert QUICK_RETRY.resubmit_uncertain is False


async def test_closing_during_a_create_call_still_returns_the_id() -> None:
    async with FakeSeedanceServer(processing_time=5) as fake:
        fake.post_faults.slow_seconds = 0.5
        fake.inject("post", "created_then_slow")  # created, then answered 0.5 s later
        client = sa.SeedanceClient(KEY, base_url=fake.url, poll=FAST)
        async with client:
            submitting = asyncio.ensure_future(client.submit(req("racing")))
            await asyncio.sleep(0.2)
        # aclose waited for the POST that was out: its answer, and the id, arrived
        gen = await submitting
        assert gen.id in fake.jobs
        assert client.in_flight == 0
        with pytest.raises(sa.ClientClosedError):
            await client.wait(gen.id)
