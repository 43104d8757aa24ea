"""The example apps in real servers (uvicorn, aiohttp's runner), driven over real HTTP."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import seedance_async as sa
from seedance_async.testing import FakeSeedanceServer

from .conftest import FAST, KEY, own_tasks

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def fastapi_server(factory: Callable[[], sa.SeedanceClient]) -> AsyncIterator[str]:
    import uvicorn

    app = load("fastapi_app").create_app(factory)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", ws="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def aiohttp_server(factory: Callable[[], sa.SeedanceClient]) -> AsyncIterator[str]:
    runner = web.AppRunner(load("aiohttp_app").create_app(factory), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


SERVERS = {"fastapi": fastapi_server, "aiohttp": aiohttp_server}


def factory(fake: FakeSeedanceServer) -> Callable[[], sa.SeedanceClient]:
    return lambda: sa.SeedanceClient(KEY, base_url=fake.url, poll=FAST, max_in_flight=64)


@pytest.fixture(params=sorted(SERVERS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_fifty_concurrent_submissions_then_status(kind: str) -> None:
    async with FakeSeedanceServer(processing_time=0.3) as fake:
        async with SERVERS[kind](factory(fake)) as url, aiohttp.ClientSession() as http:

            async def one(i: int) -> dict[str, Any]:
                async with http.post(
                    f"{url}/videos", json={"prompt": f"clip {i}", "resolution": "480p"}
                ) as r:
                    assert r.status == 202, await r.text()
                    return dict(await r.json())

            made = await asyncio.gather(*(one(i) for i in range(50)))
            assert len({m["id"] for m in made}) == 50
            assert all(m["status"] == "queued" for m in made)
            for m in made:
                async with http.get(f"{url}/videos/{m['id']}") as r:
                    assert r.status == 200
                    assert (await r.json())["id"] == m["id"]
        assert fake.post_count == 50


async def test_sse_delivers_changes_in_order_and_ends(kind: str) -> None:
    async with FakeSeedanceServer(processing_time=0.4) as fake:
        async with SERVERS[kind](factory(fake)) as url, aiohttp.ClientSession() as http:
            async with http.post(f"{url}/videos", json={"prompt": "sse"}) as r:
                gen_id = (await r.json())["id"]
            statuses = []
            async with http.get(f"{url}/videos/{gen_id}/events") as r:
                assert r.headers["Content-Type"].startswith("text/event-stream")
                async for line in r.content:
                    if line.startswith(b"data: "):
                        statuses.append(json.loads(line[6:])["status"])
            assert statuses[-1] == "completed"
            order = ["queued", "generating", "completed"]
            assert statuses == sorted(statuses, key=order.index)
            assert len(set(statuses)) == len(statuses)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x", "resolution": "4k"}, "resolution"),
        ({"prompt": "x", "image_url": "/etc/passwd"}, "image_url"),
        ({"prompt": "x", "duration": 7}, "duration"),
        ({}, "prompt"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    kind: str, body: dict[str, Any], field: str
) -> None:
    async with FakeSeedanceServer() as fake:
        async with SERVERS[kind](factory(fake)) as url, aiohttp.ClientSession() as http:
            async with http.post(f"{url}/videos", json=body) as r:
                assert r.status == 422
                assert field in await r.text()
        assert fake.post_count == 0


async def test_generate_waits_or_answers_504_with_the_id(kind: str) -> None:
    async with FakeSeedanceServer(processing_time=0.3) as fake:
        async with SERVERS[kind](factory(fake)) as url, aiohttp.ClientSession() as http:
            async with http.post(f"{url}/videos/generate?timeout=30", json={"prompt": "wait"}) as r:
                assert r.status == 200
                assert (await r.json())["video_url"].startswith("http://localhost")
            fake.processing_time = 30
            async with http.post(
                f"{url}/videos/generate?timeout=0.2", json={"prompt": "slow"}
            ) as r:
                assert r.status == 504
                gen_id = (await r.json())["id"]
            assert gen_id in fake.jobs
            async with http.get(f"{url}/videos/nope-{gen_id}") as r:
                assert r.status == 404


async def test_shutdown_with_jobs_in_flight_is_clean(kind: str) -> None:
    before = own_tasks()
    async with FakeSeedanceServer(processing_time=30) as fake:
        async with SERVERS[kind](factory(fake)) as url, aiohttp.ClientSession() as http:
            for i in range(10):
                async with http.post(f"{url}/videos", json={"prompt": f"long {i}"}) as r:
                    assert r.status == 202

            async def listen(gid: str) -> None:
                async with http.get(f"{url}/videos/{gid}/events") as r:
                    await r.content.read()

            listeners = [asyncio.ensure_future(listen(gid)) for gid in list(fake.jobs)[:3]]
            await asyncio.sleep(0.2)
            for listener in listeners:
                listener.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
    await asyncio.sleep(0.05)
    assert own_tasks() == before
