"""Video generation behind an aiohttp.web service, the client held in a cleanup_ctx.

    AIMLAPI_API_KEY=... python examples/aiohttp_app.py

Same routes as the FastAPI example: POST /videos, GET /videos/{id},
GET /videos/{id}/events (server-sent events), POST /videos/generate.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

import seedance_async as sa

CLIENT = web.AppKey("client", sa.SeedanceClient)
FIELDS = {
    "prompt", "image_url", "last_image_url", "resolution", "duration", "seed",
    "camerafixed", "model",
}  # fmt: skip
ERROR_STATUS: list[tuple[type[Exception], int]] = [
    (sa.InvalidRequestError, 422),
    (sa.GenerationTimeout, 504),
    (sa.GenerationFailed, 502),
    (sa.NotFoundError, 404),
    (sa.RateLimitError, 429),
    (sa.SubmissionUncertainError, 502),
    (sa.BudgetExceededError, 503),
    (sa.InsufficientCreditsError, 503),
    (sa.ClientClosedError, 503),
    (sa.SeedanceError, 502),
]


def generation_json(gen: sa.Generation) -> dict[str, Any]:
    return attrs.asdict(gen, filter=attrs.filters.exclude("raw"))


@web.middleware
async def seedance_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except sa.SeedanceError as exc:
        status = next(code for cls, code in ERROR_STATUS if isinstance(exc, cls))
        body: dict[str, Any] = {"error": type(exc).__name__, "detail": str(exc)}
        if isinstance(exc, sa.InvalidRequestError):
            body["field"] = exc.field
        if isinstance(exc, sa.GenerationTimeout):
            body["id"] = exc.generation_id
        return web.json_response(body, status=status)


async def read_request(request: web.Request) -> sa.VideoRequest:
    try:
        data = await request.json()
    except ValueError:
        raise sa.InvalidRequestError("body", "expected a JSON object") from None
    if not isinstance(data, dict):
        raise sa.InvalidRequestError("body", "expected a JSON object")
    unknown = set(data) - FIELDS
    if unknown:
        raise sa.InvalidRequestError(sorted(unknown)[0], "unknown field")
    if "prompt" not in data:
        raise sa.InvalidRequestError("prompt", "field required")
    return sa.VideoRequest(**data)


async def submit(request: web.Request) -> web.Response:
    gen = await request.app[CLIENT].submit(await read_request(request))
    return web.json_response(generation_json(gen), status=202)


async def status(request: web.Request) -> web.Response:
    gen = await request.app[CLIENT].retrieve(request.match_info["id"])
    return web.json_response(generation_json(gen))


async def events(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    try:
        async for gen in request.app[CLIENT].updates(request.match_info["id"]):
            data = json.dumps(generation_json(gen))
            await response.write(f"event: status\ndata: {data}\n\n".encode())
    except sa.SeedanceError as exc:
        await response.write(f"event: error\ndata: {json.dumps({'detail': str(exc)})}\n\n".encode())
    await response.write_eof()
    return response


async def generate(request: web.Request) -> web.Response:
    timeout = float(request.query.get("timeout", "300"))
    gen = await request.app[CLIENT].generate(await read_request(request), timeout=timeout)
    return web.json_response(generation_json(gen))


def create_app(
    client_factory: Callable[[], sa.SeedanceClient] = sa.SeedanceClient,
) -> web.Application:
    async def client_ctx(app: web.Application) -> AsyncIterator[None]:
        async with client_factory() as client:
            app[CLIENT] = client
            yield

    app = web.Application(middlewares=[seedance_errors])
    app.cleanup_ctx.append(client_ctx)
    app.router.add_post("/videos", submit)
    app.router.add_post("/videos/generate", generate)
    app.router.add_get("/videos/{id}", status)
    app.router.add_get("/videos/{id}/events", events)
    return app


if __name__ == "__main__":
    web.run_app(create_app())
