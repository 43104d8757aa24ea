"""Type-checked (mypy --strict), never run: the public API as users write it."""

from __future__ import annotations

from pathlib import Path

import attrs

import seedance_async as sa


async def usage() -> None:
    policy = attrs.evolve(sa.PollPolicy(), time_scale=0.5)
    async with sa.SeedanceClient("key", poll=policy, retry=sa.RetryPolicy(attempts=3)) as client:
        request = sa.VideoRequest(prompt="x", image_url=Path("a.png"), resolution="720p")
        gen: sa.Generation = await client.submit(request)
        status: sa.GenerationStatus = gen.status
        terminal: bool = status.is_terminal
        gen = await client.retrieve(gen.id)
        gen = await client.wait(gen.id, timeout=600)
        gen = await client.generate(request, timeout=None)
        async for update in client.updates(gen.id):
            raw: str = update.raw_status
        async for outcome in client.generate_many([request], concurrency=4):
            index: int = outcome.index
            err: BaseException | None = outcome.error
            done: sa.Generation | None = outcome.generation
        path: Path = await client.download(gen, "out.mp4")
        usage: sa.Usage = client.usage
        del terminal, raw, index, err, done, path, usage
    try:
        pass
    except sa.GenerationTimeout as exc:
        gen_id: str = exc.generation_id
        del gen_id
    except sa.APIStatusError as exc:
        code: int = exc.status_code
        request_id: str | None = exc.request_id
        del code, request_id
