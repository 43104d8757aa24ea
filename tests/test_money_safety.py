"""Money and key safety: a fault soak, ambiguous submissions, budgets, no key leaks."""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from pathlib import Path

import pytest
from aioresponses import aioresponses

import seedance_async as sa
from seedance_async.testing import FakeSeedanceServer, Faults

from .conftest import FAST, QUICK_RETRY, own_tasks, req

SECRET = "sk-SECRET-4f9a0c2e8b7d"


async def test_fault_soak_500_jobs_every_job_completes_one_post_each() -> None:
    get_faults = Faults(
        server_error=0.10,
        html_share=0.5,
        rate_limit=0.05,
        retry_after=0.05,
        reset=0.03,
        malformed=0.02,
        slow=0.05,
        slow_seconds=2.0,
    )
    post_faults = Faults(rate_limit=0.05, retry_after=0.02, server_error=0.0)
    post_faults_gateway = ["502", "503"]
    async with FakeSeedanceServer(
        time_scale=0.004, spread=0.3, seed=7, get_faults=get_faults, post_faults=post_faults
    ) as fake:
        for i in range(0, 500, 25):  # gateway refusals on some creates too
            fake.inject("post", post_faults_gateway[i % 2])  # type: ignore[arg-type]
        retry = sa.RetryPolicy(attempts=8, backoff_base=0.01, backoff_cap=0.05, retry_after_cap=0.1)
        policy = sa.PollPolicy(
            time_scale=0.004,
            max_polls_per_second=400,
            max_concurrent_polls=64,
            error_backoff_cap=0.2,
        )
        async with sa.SeedanceClient(
            SECRET,
            base_url=fake.url,
            poll=policy,
            retry=retry,
            max_in_flight=100,
            request_timeout=0.5,
        ) as client:
            requests = (req(f"soak {i}", resolution="480p") for i in range(500))
            outcomes = await asyncio.wait_for(
                _collect(client.generate_many(requests, concurrency=100)), 60
            )
            usage = client.usage
    served = fake.faults_served
    assert {"429", "html", "reset", "malformed", "slow"} <= set(served["get"])
    assert {"500", "502", "503", "504"} & set(served["get"])
    assert {"429", "502", "503"} <= set(served["post"])
    failures = [o.error for o in outcomes if not o.ok]
    assert failures == []
    assert len(outcomes) == 500
    assert len(fake.jobs) == 500
    assert all(fake.posts_with_prompt(f"soak {i}") >= 1 for i in range(500))
    jobs_per_prompt = {}
    for job in fake.jobs.values():
        jobs_per_prompt[job.body["prompt"]] = jobs_per_prompt.get(job.body["prompt"], 0) + 1
    assert set(jobs_per_prompt.values()) == {1}  # exactly one paid job per request
    assert usage.submitted == 500 and usage.completed == 500 and usage.retries > 0


async def _collect(it: object) -> list[sa.JobOutcome]:
    return [o async for o in it]  # type: ignore[attr-defined]


async def test_ambiguous_post_is_an_outcome_and_never_repeated() -> None:
    async with FakeSeedanceServer(processing_time=0.1) as fake:
        fake.inject("post", "created_then_reset")
        async with sa.SeedanceClient(
            SECRET, base_url=fake.url, poll=FAST, retry=QUICK_RETRY
        ) as client:
            outcomes = [o async for o in client.generate_many([req("first")], concurrency=1)]
            more = [o async for o in client.generate_many([req("second")])]
        assert isinstance(outcomes[0].error, sa.SubmissionUncertainError)
        assert outcomes[0].error.request is not None
        assert outcomes[0].error.request.prompt == "first"
        assert fake.posts_with_prompt("first") == 1
        assert len(fake.jobs) == 2  # the ambiguous one was created (and billed)
        assert more[0].ok
        assert client.usage.uncertain == 1


async def test_budget_stops_posts_at_the_budget() -> None:
    async with FakeSeedanceServer(processing_time=0.05) as fake:
        per_job = 120_000  # 480p, 5 s on the fake
        budget = per_job * 3.5
        async with sa.SeedanceClient(
            SECRET, base_url=fake.url, poll=FAST, budget_credits=budget, max_in_flight=8
        ) as client:
            requests = [req(f"b {i}", resolution="480p") for i in range(10)]
            outcomes = [o async for o in client.generate_many(requests, concurrency=8)]
            assert client.usage.credits_used <= budget
        assert fake.post_count == 3
        refused = [o for o in outcomes if isinstance(o.error, sa.BudgetExceededError)]
        assert len(refused) == 7 and all(o.generation_id is None for o in refused)
        assert sum(o.ok for o in outcomes) == 3


async def test_budget_refuses_a_single_submit_before_any_post() -> None:
    async with FakeSeedanceServer(processing_time=0.05) as fake:
        async with sa.SeedanceClient(
            SECRET, base_url=fake.url, poll=FAST, budget_credits=150_000
        ) as client:
            await client.submit(req(resolution="480p"))
            with pytest.raises(sa.BudgetExceededError) as info:
                await client.submit(req(resolution="480p"))
        assert fake.post_count == 1
        assert info.value.budget == 150_000 and info.value.estimate == 120_000


async def test_the_key_never_leaks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)
    async with FakeSeedanceServer(processing_time=0.1) as fake:
        async with sa.SeedanceClient(
            SECRET, base_url=fake.url, poll=FAST, retry=QUICK_RETRY
        ) as client:
            texts.append(repr(client))
            gen = await client.generate(req(), timeout=30)
            await client.download(gen, tmp_path / "v.mp4")
            texts += [repr(gen), str(gen), repr(client.usage)]
            fake.script("doomed", fail=True, status="failed")
            for fault in ("500", "created_then_reset", "html", "malformed", "429"):
                fake.inject("post", fault, times=10)  # type: ignore[arg-type]
                try:
                    await client.generate(req("doomed"), timeout=5)
                except sa.SeedanceError as exc:
                    texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
                fake._injected["post"].clear()
            for call in (
                client.generate(req("doomed"), timeout=5),
                client.retrieve("cgt-missing"),
                client.wait("cgt-missing", timeout=0.01),
            ):
                try:
                    await call
                except sa.SeedanceError as exc:
                    texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        fake.api_key = "other"
        async with sa.SeedanceClient(SECRET, base_url=fake.url, retry=QUICK_RETRY) as client:
            try:
                await client.submit(req())
            except sa.AuthenticationError as exc:
                texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
                texts.append(repr(exc.body))
        file_hosts = {r.host for r in fake.file_requests}
        assert file_hosts == {"localhost"}
        assert all("Authorization" not in r.headers for r in fake.file_requests)
    texts += [r.getMessage() for r in caplog.records]
    texts += [caplog.text]
    assert len(texts) > 20
    assert not [t for t in texts if SECRET in t]
    assert any("GenerationFailed" in t or "ended as" in t for t in texts)


async def test_redirect_to_another_host_never_carries_the_key() -> None:
    with aioresponses() as mocked:
        pattern = re.compile(r"^https://api\.example\.com/.*$")
        mocked.post(pattern, status=307, headers={"Location": "https://elsewhere.example.org/x"})
        async with sa.SeedanceClient(SECRET, base_url="https://api.example.com") as client:
            with pytest.raises(sa.SeedanceError):
                await client.submit(req())
        hosts = {url.host for _, url in mocked.requests}
    assert hosts == {"api.example.com"}


@pytest.mark.parametrize(
    ("payload", "body", "expect"),
    [
        ("post", {"status": "queued"}, sa.SubmissionUncertainError),  # no id
        ("post", "x" * (5 * 1024 * 1024), sa.SubmissionUncertainError),  # enormous
        ("get", "<html>not json</html>", sa.APIConnectionError),
        ("get", "y" * (5 * 1024 * 1024), sa.APIConnectionError),
    ],
)
async def test_hostile_answers_give_clear_errors(payload: str, body: object, expect: type) -> None:
    with aioresponses() as mocked:
        pattern = re.compile(r"^https://api\.example\.com/.*$")
        for _ in range(10):
            if isinstance(body, dict):
                getattr(mocked, payload)(pattern, payload=body)
            else:
                getattr(mocked, payload)(pattern, body=body, content_type="application/json")
        async with sa.SeedanceClient(
            SECRET, base_url="https://api.example.com", retry=QUICK_RETRY
        ) as client:
            with pytest.raises(expect):
                if payload == "post":
                    await client.submit(req())
                else:
                    await client.retrieve("abc")


async def test_hostile_status_answers_never_crash_the_scheduler() -> None:
    answers = [
        {"id": "h", "status": "teleporting"},
        {"id": "h", "status": None},
        {"id": "h", "status": "completed", "video": {"url": "javascript:alert(1)"}},
    ]
    with aioresponses() as mocked:
        pattern = re.compile(r"^https://api\.example\.com/.*$")
        mocked.get(pattern, body="<<garbage>>", content_type="application/json")
        for answer in answers:
            mocked.get(pattern, payload=answer)
        async with sa.SeedanceClient(
            SECRET, base_url="https://api.example.com", poll=FAST
        ) as client:
            gen = await client.wait("h", timeout=30)
    assert gen.is_completed and gen.video_url is None


async def test_shutdown_under_load_is_clean() -> None:
    before = own_tasks()
    async with FakeSeedanceServer(processing_time=30) as fake:
        async with sa.SeedanceClient(
            SECRET, base_url=fake.url, poll=FAST, max_in_flight=200
        ) as client:
            runner = asyncio.ensure_future(
                _collect(client.generate_many((req(f"l {i}") for i in range(200)), concurrency=200))
            )
            while fake.post_count < 200:
                await asyncio.sleep(0.05)
        outcomes = await runner
        assert len(outcomes) == 200
        assert all(isinstance(o.error, sa.ClientClosedError) for o in outcomes)
        assert all(o.generation_id for o in outcomes)  # ids kept for collecting later
    await asyncio.sleep(0)
    assert own_tasks() == before
