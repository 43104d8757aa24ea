"""The HTTP choke point: retries, the paid-POST rule, error mapping, headers."""

from __future__ import annotations

import re
import socket

import pytest
from aioresponses import aioresponses

import seedance_async as sa
from seedance_async.testing import FakeSeedanceServer

from .conftest import KEY, QUICK_RETRY, req

API = "https://api.example.com"


def _client(base_url: str, **kw: object) -> sa.SeedanceClient:
    kw.setdefault("retry", QUICK_RETRY)
    kw.setdefault("request_timeout", 2)
    return sa.SeedanceClient(KEY, base_url=base_url, **kw)  # type: ignore[arg-type]


# -- the paid POST: retried only when no job can exist ----------------------------------


@pytest.mark.parametrize("fault", ["429", "502", "503", "html"])
async def test_post_refusals_are_retried(fake: FakeSeedanceServer, fault: str) -> None:
    fake.inject("post", fault, times=2)  # type: ignore[arg-type]
    async with _client(fake.url) as client:
        gen = await client.submit(req(prompt=f"retry {fault}"))
    assert gen.status is sa.GenerationStatus.QUEUED
    assert fake.posts_with_prompt(f"retry {fault}") == 3
    assert len(fake.jobs) == 1
    assert client.usage.retries == 2


@pytest.mark.parametrize("fault", ["500", "504", "created_then_reset", "created_then_500"])
async def test_ambiguous_post_failures_are_not_retried(
    fake: FakeSeedanceServer, fault: str
) -> None:
    fake.inject("post", fault)  # type: ignore[arg-type]
    request = req(prompt=f"ambiguous {fault}")
    async with _client(fake.url) as client:
        with pytest.raises(sa.SubmissionUncertainError) as info:
            await client.submit(request)
        assert client.in_flight == 0
        assert client.usage.uncertain == 1
    assert info.value.request is request
    assert fake.posts_with_prompt(f"ambiguous {fault}") == 1


async def test_post_read_timeout_is_uncertain(fake: FakeSeedanceServer) -> None:
    fake.post_faults.slow_seconds = 5
    fake.inject("post", "created_then_slow")
    async with _client(fake.url, request_timeout=0.3) as client:
        with pytest.raises(sa.SubmissionUncertainError):
            await client.submit(req(prompt="slow"))
    assert fake.posts_with_prompt("slow") == 1
    assert len(fake.jobs) == 1  # the job exists and is billed: retrying would pay twice


async def test_post_malformed_2xx_is_uncertain(fake: FakeSeedanceServer) -> None:
    fake.inject("post", "malformed")
    async with _client(fake.url) as client:
        with pytest.raises(sa.SubmissionUncertainError):
            await client.submit(req(prompt="garbled"))
    assert fake.posts_with_prompt("garbled") == 1


async def test_resubmit_uncertain_is_an_explicit_opt_in(fake: FakeSeedanceServer) -> None:
    fake.inject("post", "500")
    retry = sa.RetryPolicy(backoff_base=0.001, resubmit_uncertain=True)
    async with _client(fake.url, retry=retry) as client:
        await client.submit(req(prompt="opt in"))
    assert fake.posts_with_prompt("opt in") == 2


@pytest.mark.parametrize(("fault_status", "cls"), [("400", sa.BadRequestError)])
async def test_client_errors_are_never_retried(
    fake: FakeSeedanceServer, fault_status: str, cls: type
) -> None:
    async with _client(fake.url) as client:
        with pytest.raises(cls):
            await client.submit(sa.VideoRequest(prompt="x", model="bytedance/not-a-model"))
    assert fake.post_count == 1


async def test_wrong_key_is_authentication_error_not_retried() -> None:
    async with FakeSeedanceServer(api_key="right") as fake:
        async with sa.SeedanceClient("wrong", base_url=fake.url, retry=QUICK_RETRY) as client:
            with pytest.raises(sa.AuthenticationError) as info:
                await client.submit(req())
            with pytest.raises(sa.AuthenticationError):
                await client.retrieve("cgt-1")
        assert fake.post_count == 1 and fake.get_count == 1
        assert info.value.request_id is not None
        assert "wrong" not in str(info.value)


async def test_out_of_funds_is_insufficient_credits(fake: FakeSeedanceServer) -> None:
    fake.out_of_funds = True
    async with _client(fake.url) as client:
        with pytest.raises(sa.InsufficientCreditsError, match="run out of funds"):
            await client.submit(req())
    assert fake.post_count == 1


async def test_refused_connection_retries_then_raises_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with _client(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(sa.APIConnectionError) as info:
            await client.submit(req())
        assert client.usage.retries == QUICK_RETRY.attempts - 1
        assert client.in_flight == 0
    assert not isinstance(info.value, sa.SubmissionUncertainError)


async def test_post_exhausting_retries_raises_the_last_refusal(fake: FakeSeedanceServer) -> None:
    fake.inject("post", "429", times=10)
    async with _client(fake.url) as client:
        with pytest.raises(sa.RateLimitError):
            await client.submit(req(prompt="limited"))
    assert fake.posts_with_prompt("limited") == QUICK_RETRY.attempts
    assert fake.jobs == {}


# -- GETs retry on every transient failure --------------------------------------------


@pytest.mark.parametrize("fault", ["500", "502", "503", "504", "html", "429", "reset", "malformed"])
async def test_get_retries_transient_failures(fake: FakeSeedanceServer, fault: str) -> None:
    async with _client(fake.url) as client:
        gen = await client.submit(req())
        fake.inject("get", fault, times=2)  # type: ignore[arg-type]
        again = await client.retrieve(gen.id)
    assert again.id == gen.id
    assert fake.get_count == 3


async def test_get_read_timeout_is_retried(fake: FakeSeedanceServer) -> None:
    fake.get_faults.slow_seconds = 5
    async with _client(fake.url, request_timeout=0.3) as client:
        gen = await client.submit(req())
        fake.inject("get", "slow")
        assert (await client.retrieve(gen.id)).id == gen.id
    assert fake.get_count == 2


async def test_unknown_id_is_not_found(fake: FakeSeedanceServer) -> None:
    async with _client(fake.url) as client:
        with pytest.raises(sa.NotFoundError):
            await client.retrieve("cgt-nope")
    assert fake.get_count == 1


async def test_html_5xx_message_is_readable(fake: FakeSeedanceServer) -> None:
    fake.inject("get", "html", times=10)
    async with _client(fake.url) as client:
        with pytest.raises(sa.ServerError) as info:
            await client.retrieve("cgt-1")
    assert info.value.status_code == 502
    assert info.value.message == "502 Bad Gateway"


async def test_both_paths_answer(fake: FakeSeedanceServer) -> None:
    async with _client(fake.url) as client:
        gen = await client.submit(req())
    import aiohttp

    async with aiohttp.ClientSession() as session:
        url = f"{fake.url}/v2/generate/video/bytedance/generation"
        async with session.get(
            url, params={"generation_id": gen.id}, headers={"Authorization": f"Bearer {KEY}"}
        ) as resp:
            assert resp.status == 200
            assert (await resp.json())["id"] == gen.id


async def test_any_2xx_create_answer_is_accepted() -> None:
    async with FakeSeedanceServer(post_status=201) as fake, _client(fake.url) as client:
        gen = await client.submit(req())
    assert gen.id in fake.jobs


# -- single exchanges ----------------------------------------------------------------


async def test_headers_and_url_encoded_ids() -> None:
    with aioresponses() as mocked:
        pattern = re.compile(r"^https://api\.example\.com/v2/video/generations\?.*$")
        mocked.get(pattern, payload={"id": "a b/c?d&e=f+g", "status": "queued"})
        async with _client(API) as client:
            gen = await client.retrieve("a b/c?d&e=f+g")
        assert gen.id == "a b/c?d&e=f+g"
        (method, url), calls = next(iter(mocked.requests.items()))
        assert method == "GET"
        assert url.query["generation_id"] == "a b/c?d&e=f+g"
        raw = url.raw_query_string
        assert raw.count("=") == 1 and "&" not in raw  # the id cannot break the query
        assert "%26e%3Df%2Bg" in raw
        headers = calls[0].kwargs["headers"]
        assert headers["Authorization"] == f"Bearer {KEY}"
        assert headers["User-Agent"].startswith("seedance-async/")


async def test_redirects_are_not_followed_with_the_key() -> None:
    with aioresponses() as mocked:
        mocked.get(
            re.compile(r"^https://api\.example\.com/.*$"),
            status=302,
            headers={"Location": "https://evil.example.net/steal"},
        )
        async with _client(API, retry=sa.RetryPolicy(attempts=1)) as client:
            with pytest.raises(sa.APIStatusError, match="redirect"):
                await client.retrieve("abc")
        assert all("evil" not in str(url) for _, url in mocked.requests)


async def test_retry_after_is_honoured() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    with aioresponses() as mocked:
        pattern = re.compile(r"^https://api\.example\.com/.*$")
        mocked.get(pattern, status=429, headers={"Retry-After": "7"}, payload={"message": "slow"})
        mocked.get(pattern, payload={"id": "x", "status": "queued"})
        async with sa.SeedanceClient(KEY, base_url=API, sleep=sleep) as client:
            await client.retrieve("x")
    assert slept == [7.0]


async def test_retry_after_is_capped_and_backoff_is_jittered() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    retry = sa.RetryPolicy(attempts=4, backoff_base=1.0, backoff_cap=3.0, retry_after_cap=5.0)
    with aioresponses() as mocked:
        pattern = re.compile(r"^https://api\.example\.com/.*$")
        mocked.get(pattern, status=429, headers={"Retry-After": "3600"})
        mocked.get(pattern, status=500)
        mocked.get(pattern, status=500)
        mocked.get(pattern, payload={"id": "x", "status": "queued"})
        async with sa.SeedanceClient(KEY, base_url=API, sleep=sleep, retry=retry) as client:
            await client.retrieve("x")
    assert slept[0] == 5.0
    assert 0 <= slept[1] <= 2.0 and 0 <= slept[2] <= 3.0


async def test_create_answer_without_status_is_queued() -> None:
    with aioresponses() as mocked:
        mocked.post(re.compile(r"^https://api\.example\.com/.*$"), status=201, payload={"id": "n1"})
        async with _client(API) as client:
            gen = await client.submit(req())
    assert gen.status is sa.GenerationStatus.QUEUED and gen.raw_status == "queued"
