"""Video generation behind a FastAPI service, with one SeedanceClient for the process.

    pip install 'seedance-async' fastapi uvicorn
    AIMLAPI_API_KEY=... uvicorn examples.fastapi_app:app

Routes:
    POST /videos              submit; answers at once with the id (422 on bad input)
    GET  /videos/{id}         status
    GET  /videos/{id}/events  server-sent events, one per status change, until done
    POST /videos/generate     submit and wait (504 with the id on timeout)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

import seedance_async as sa


class VideoIn(BaseModel):
    """What callers may send; ``VideoRequest`` does the real validation."""

    prompt: str
    image_url: str | None = None
    last_image_url: str | None = None
    resolution: str | None = None
    duration: int | str | None = None
    seed: int | None = None
    camerafixed: bool | None = None
    model: str = "bytedance/seedance-1-0-pro-i2v"

    def to_request(self) -> sa.VideoRequest:
        # Strings are only ever URLs to seedance_async: user input cannot read our files.
        return sa.VideoRequest(**self.model_dump(exclude_none=True))


def generation_json(gen: sa.Generation) -> dict[str, Any]:
    """Our attrs models to JSON: ``attrs.asdict`` without the raw payload."""
    return attrs.asdict(gen, filter=attrs.filters.exclude("raw"))


# Each library error to an HTTP answer: (status, what the caller should know).
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


def error_response(exc: Exception) -> JSONResponse:
    status = next(code for cls, code in ERROR_STATUS if isinstance(exc, cls))
    body: dict[str, Any] = {"error": type(exc).__name__, "detail": str(exc)}
    if isinstance(exc, sa.InvalidRequestError):
        body["field"] = exc.field
    if isinstance(exc, sa.GenerationTimeout):
        body["id"] = exc.generation_id  # the job goes on: poll GET /videos/{id}
    if isinstance(exc, sa.GenerationFailed):
        body["generation"] = generation_json(exc.generation)
    return JSONResponse(body, status_code=status)


def create_app(client_factory: Any = sa.SeedanceClient) -> FastAPI:
    """The app; ``client_factory()`` makes the one client (tests point it elsewhere)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with client_factory() as client:
            app.state.client = client
            yield

    app = FastAPI(lifespan=lifespan)

    @app.exception_handler(sa.SeedanceError)
    async def seedance_error(request: Request, exc: sa.SeedanceError) -> JSONResponse:
        return error_response(exc)

    def client_of(request: Request) -> sa.SeedanceClient:
        client: sa.SeedanceClient = request.app.state.client
        return client

    @app.post("/videos", status_code=202)
    async def submit(video: VideoIn, request: Request) -> dict[str, Any]:
        gen = await client_of(request).submit(video.to_request())
        return generation_json(gen)

    @app.get("/videos/{generation_id}")
    async def status(generation_id: str, request: Request) -> dict[str, Any]:
        return generation_json(await client_of(request).retrieve(generation_id))

    @app.get("/videos/{generation_id}/events")
    async def events(generation_id: str, request: Request) -> StreamingResponse:
        client = client_of(request)

        async def stream() -> AsyncIterator[str]:
            try:
                async for gen in client.updates(generation_id):
                    yield f"event: status\ndata: {json.dumps(generation_json(gen))}\n\n"
            except sa.SeedanceError as exc:
                yield f"event: error\ndata: {json.dumps({'detail': str(exc)})}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.post("/videos/generate")
    async def generate(video: VideoIn, request: Request, timeout: float = 300) -> dict[str, Any]:
        gen = await client_of(request).generate(video.to_request(), timeout=timeout)
        return generation_json(gen)

    return app


app = create_app()
