"""The journal: a rerun never pays twice and never loses a job."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import seedance_async as sa
from seedance_async.testing import FakeSeedanceServer

from .conftest import FAST, KEY, QUICK_RETRY, req


def _client(fake: FakeSeedanceServer, **kw: object) -> sa.SeedanceClient:
    return sa.SeedanceClient(KEY, base_url=fake.url, poll=FAST, retry=QUICK_RETRY, **kw)  # type: ignore[arg-type]


async def _run(
    client: sa.SeedanceClient, requests: list[sa.VideoRequest], journal: sa.Journal, **kw: object
) -> dict[int, sa.JobOutcome]:
    return {o.index: o async for o in client.generate_many(requests, journal=journal, **kw)}  # type: ignore[arg-type]


async def test_rerun_reports_finished_jobs_without_any_request(tmp_path: Path) -> None:
    requests = [req(f"j {i}") for i in range(5)] + [req("j 0")]  # a repeat is its own job
    async with FakeSeedanceServer(processing_time=0.1) as fake:
        async with sa.Journal(tmp_path / "jobs.sqlite") as journal:
            async with _client(fake) as client:
                first = await _run(client, requests, journal)
            assert all(o.ok for o in first.values())
            assert len({o.key for o in first.values()}) == 6
            counts = await journal.counts()
            assert counts == {"completed": 6}
            seen = len(fake.requests)
            async with _client(fake) as client:
                second = await _run(client, requests, journal)
            assert len(fake.requests) == seen  # nothing sent at all
            assert {i: o.generation_id for i, o in second.items()} == {
                i: o.generation_id for i, o in first.items()
            }
            assert all(o.generation and o.generation.video_url for o in second.values())


async def test_submitted_jobs_are_reattached_by_id(tmp_path: Path) -> None:
    async with FakeSeedanceServer(processing_time=0.6) as fake:
        async with sa.Journal(tmp_path / "j.sqlite") as journal:
            async with _client(fake, journal=journal) as client:
                gen = await client.submit(req("crash me", key="job-1"))
            # the process "died" while the job ran: only the id is on disk
            entry = await journal.get("job-1")
            assert entry is not None and entry.state == "submitted"
            assert entry.generation_id == gen.id
            async with _client(fake) as client:
                outcomes = await _run(client, [req("crash me", key="job-1")], journal)
            assert outcomes[0].ok and outcomes[0].generation_id == gen.id
            assert fake.post_count == 1
            assert (await journal.get("job-1")).state == "completed"  # type: ignore[union-attr]


async def test_post_without_recorded_id_is_uncertain_unless_opted_in(tmp_path: Path) -> None:
    async with FakeSeedanceServer(processing_time=0.1) as fake:
        async with sa.Journal(tmp_path / "j.sqlite") as journal:
            fake.inject("post", "created_then_reset")
            async with _client(fake) as client:
                first = await _run(client, [req("maybe", key="m")], journal)
                assert isinstance(first[0].error, sa.SubmissionUncertainError)
                assert (await journal.get("m")).state == "uncertain"  # type: ignore[union-attr]
                second = await _run(client, [req("maybe", key="m")], journal)
                assert isinstance(second[0].error, sa.SubmissionUncertainError)
                assert fake.posts_with_prompt("maybe") == 1
                third = await _run(
                    client, [req("maybe", key="m")], journal, resubmit_uncertain=True
                )
            assert third[0].ok
            assert fake.posts_with_prompt("maybe") == 2


async def test_refused_posts_leave_no_uncertain_record(tmp_path: Path) -> None:
    async with FakeSeedanceServer(processing_time=0.1, api_key="other") as fake:
        async with sa.Journal(tmp_path / "j.sqlite") as journal:
            async with _client(fake) as client:
                out = await _run(client, [req("refused", key="r")], journal)
            assert isinstance(out[0].error, sa.AuthenticationError)
            assert await journal.get("r") is None  # nothing was created: safe to run again


async def test_client_journal_records_submit_and_wait(tmp_path: Path) -> None:
    async with FakeSeedanceServer(processing_time=0.1) as fake:
        journal = sa.Journal(tmp_path / "j.sqlite")
        async with _client(fake, journal=journal) as client:
            gen = await client.generate(req("direct"), timeout=30)
        assert not journal.is_open  # the client opened it, so the client closed it
        async with journal:
            entries = await journal.entries()
        assert [(e.state, e.generation_id) for e in entries] == [("completed", gen.id)]
        assert entries[0].request["prompt"] == "direct"


async def test_keys_hash_local_images_by_content(tmp_path: Path) -> None:
    from seedance_async.testing.images import png_bytes

    a = tmp_path / "a.png"
    a.write_bytes(png_bytes(640, 480))
    first = await sa._journal.request_key(sa.VideoRequest(prompt="x", image_url=a))
    assert first == await sa._journal.request_key(sa.VideoRequest(prompt="x", image_url=a))
    a.write_bytes(png_bytes(640, 400))
    assert first != await sa._journal.request_key(sa.VideoRequest(prompt="x", image_url=a))
    assert await sa._journal.request_key(sa.VideoRequest(prompt="x", key="mine")) == "mine"


async def test_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    async with sa.Journal(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='99' WHERE name='schema_version'")
    with pytest.raises(sa.JournalError, match="newer"):
        async with sa.Journal(path):
            pass


async def test_not_a_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(sa.JournalError):
        await sa.Journal(path).open()


async def test_concurrent_writers_in_one_process(tmp_path: Path) -> None:
    async with FakeSeedanceServer(processing_time=0.05) as fake:
        async with sa.Journal(tmp_path / "j.sqlite") as journal:
            async with _client(fake, max_in_flight=50) as client:
                out = await _run(
                    client, [req(f"c {i}") for i in range(200)], journal, concurrency=50
                )
            assert all(o.ok for o in out.values())
            assert (await journal.counts()) == {"completed": 200}
