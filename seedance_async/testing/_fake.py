"""FakeSeedanceServer: a real aiohttp.web emulator of the video generation API.

It listens on a loopback port and behaves like the vendor as FACTS.md describes it:
both paths, bearer auth, validation errors in the real shapes, jobs that take time,
alias status words, failures in either error shape, and seeded faults. Videos are
served from another host name (``localhost`` instead of ``127.0.0.1``) so tests can
see which headers reach the file host.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import string
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Literal

from aiohttp import web

from .. import _catalog
from ._records import (
    CREDITS_PER_5S,
    PATHS,
    Endpoint,
    FakeJob,
    FaultKind,
    Faults,
    RecordedRequest,
    Script,
)


class FakeSeedanceServer:
    """The emulator. ``async with FakeSeedanceServer() as fake:`` then use ``fake.url``.

    ``processing_time`` fixes every job's duration; by default it is the vendor's
    published time for the job's model, resolution and duration, times ``time_scale``,
    spread by ``spread`` (relative, seeded).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        processing_time: float | None = None,
        time_scale: float = 0.02,
        spread: float = 0.0,
        seed: int = 0,
        status_words: Mapping[str, str] | None = None,
        get_faults: Faults | None = None,
        post_faults: Faults | None = None,
        id_style: Literal["cgt", "nanoid", "uuid"] = "cgt",
        post_status: int = 200,
        report_credits: bool = True,
        host: str = "127.0.0.1",
        file_host: str = "localhost",
        port: int = 0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.api_key = api_key
        self.processing_time = processing_time
        self.time_scale = time_scale
        self.spread = spread
        self.status_words = dict(status_words or {})
        self.get_faults = get_faults or Faults()
        self.post_faults = post_faults or Faults()
        self.id_style = id_style
        self.post_status = post_status
        self.report_credits = report_credits
        self.out_of_funds = False
        self.host = host
        self.file_host = file_host
        self.jobs: dict[str, FakeJob] = {}
        self.requests: list[RecordedRequest] = []
        self.url_version = 1
        self.keep_records = True
        """Record every request in ``requests`` (turn off for long runs)."""
        self._api_counts: Counter[str] = Counter()
        self.faults_served: dict[Endpoint, Counter[str]] = {"get": Counter(), "post": Counter()}
        """How many of each fault were served, per endpoint."""
        self._port = port
        self._rng = random.Random(seed)
        self._clock = clock or time.monotonic
        self._scripts: list[Script] = []
        self._injected: dict[Endpoint, deque[FaultKind]] = {"get": deque(), "post": deque()}
        self._counter = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._video = resources.files(__package__).joinpath("sample.mp4").read_bytes()

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> FakeSeedanceServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(client_max_size=80 * 1024 * 1024)
        for path in PATHS:
            app.router.add_post(path, self._create)
            app.router.add_get(path, self._read)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/_fake/jobs", self._jobs_report)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The API's base URL, to pass as ``base_url``."""
        return f"http://{self.host}:{self._port}"

    # -- scripting ---------------------------------------------------------------------

    def script(
        self,
        match: str | Callable[[Mapping[str, Any]], bool] | None = None,
        *,
        status: str = "completed",
        fail: bool = False,
        error_shape: Literal["name", "detail"] = "name",
        processing_time: float | None = None,
        times: int | None = None,
    ) -> None:
        """Decide how matching jobs end. ``match`` is a substring of the prompt, a
        predicate on the request body, or None for every job; newest rule wins."""
        if match is None:
            predicate: Callable[[Mapping[str, Any]], bool] = lambda body: True  # noqa: E731
        elif isinstance(match, str):
            text = match
            predicate = lambda body: text in str(body.get("prompt", ""))  # noqa: E731
        else:
            predicate = match
        self._scripts.insert(
            0, Script(predicate, status, fail, error_shape, processing_time, times)
        )

    def inject(self, endpoint: Endpoint, fault: FaultKind, times: int = 1) -> None:
        """Queue ``times`` faults for the next requests to ``endpoint``."""
        self._injected[endpoint].extend([fault] * times)

    def expire_video_urls(self) -> None:
        """Make every video URL handed out so far answer 403, as after 24 hours."""
        self.url_version += 1

    # -- what happened -------------------------------------------------------------------

    def api_requests(self, method: str | None = None) -> list[RecordedRequest]:
        return [
            r for r in self.requests if r.path in PATHS and (method is None or r.method == method)
        ]

    @property
    def post_count(self) -> int:
        """Create calls received (every one, even refused ones)."""
        return self._api_counts["POST"]

    @property
    def get_count(self) -> int:
        """Status reads received."""
        return self._api_counts["GET"]

    def posts_with_prompt(self, prompt: str) -> int:
        return sum(
            1
            for r in self.api_requests("POST")
            if isinstance(r.json, dict) and r.json.get("prompt") == prompt
        )

    @property
    def file_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith("/files/")]

    def max_concurrent_jobs(self) -> int:
        """Most jobs created and not yet finished at any one moment."""
        events = sorted(
            [(j.created_at, 1) for j in self.jobs.values()]
            + [(j.finish_at, -1) for j in self.jobs.values()],
            key=lambda e: (e[0], e[1]),
        )
        peak = level = 0
        for _, step in events:
            level += step
            peak = max(peak, level)
        return peak

    # -- handlers ----------------------------------------------------------------------

    def _record(self, request: web.Request, body: Any) -> None:
        if request.path in PATHS:
            self._api_counts[request.method] += 1
        if not self.keep_records:
            return
        self.requests.append(
            RecordedRequest(
                at=self._clock(),
                method=request.method,
                host=request.host.rsplit(":", 1)[0],
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                json=body,
            )
        )

    def _generic(
        self, request: web.Request, status: int, message: str, **extra: Any
    ) -> web.Response:
        return web.json_response(
            {
                "requestId": str(uuid.uuid4()),
                "statusCode": status,
                "timestamp": datetime.now(UTC).isoformat(),
                "path": request.path,
                "message": message,
                **extra,
            },
            status=status,
            headers={"x-request-id": f"req-{next(self._counter)}"},
        )

    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key or (self.api_key and key != self.api_key):
            return self._generic(request, 401, "Unauthorized: missing or invalid API key")
        if self.out_of_funds:
            return web.json_response(
                {
                    "title": "Forbidden",
                    "status": 403,
                    "message": "You've run out of funds. Please top up your balance.",
                },
                status=403,
            )
        return None

    def _next_fault(self, endpoint: Endpoint) -> FaultKind | None:
        if self._injected[endpoint]:
            fault: FaultKind | None = self._injected[endpoint].popleft()
        else:
            faults = self.get_faults if endpoint == "get" else self.post_faults
            fault = faults.draw(self._rng)
        if fault is not None:
            self.faults_served[endpoint][fault] += 1
        return fault

    async def _fault_response(self, request: web.Request, fault: FaultKind) -> web.StreamResponse:
        if fault == "429":
            headers = {}
            faults = self.get_faults if request.method == "GET" else self.post_faults
            if faults.retry_after is not None:
                headers["Retry-After"] = f"{faults.retry_after:g}"
            return web.json_response(
                {"statusCode": 429, "message": "Too Many Requests"}, status=429, headers=headers
            )
        if fault in ("500", "502", "503", "504", "created_then_500"):
            code = 500 if fault == "created_then_500" else int(fault)
            message = "Generation timeout" if code == 504 else "Internal server error"
            return self._generic(request, code, message)
        if fault == "html":
            page = (
                "<html><head><title>502 Bad Gateway</title></head>"
                "<body><center><h1>502 Bad Gateway</h1></center><hr>nginx</body></html>"
            )
            return web.Response(status=502, text=page, content_type="text/html")
        if fault == "malformed":
            return web.Response(status=200, text='{"id": "trunc', content_type="application/json")
        if fault in ("reset", "created_then_reset"):
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        raise AssertionError(fault)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        self._record(request, body)
        denied = self._auth(request)
        if denied is not None:
            return denied
        fault = self._next_fault("post")
        if fault == "slow":  # slow before anything happens: nothing exists yet
            await asyncio.sleep(self.post_faults.slow_seconds)
        elif fault is not None and not fault.startswith("created_then"):
            return await self._fault_response(request, fault)
        problems = self._validate(body)
        if problems:
            return self._generic(request, 400, "Body validation error!", detail=problems)
        assert isinstance(body, dict)
        job = self._new_job(body)
        if fault == "created_then_slow":  # the job exists; the answer is late
            await asyncio.sleep(self.post_faults.slow_seconds)
        elif fault is not None and fault.startswith("created_then"):
            return await self._fault_response(request, fault)
        answer: dict[str, Any] = {"id": job.id, "status": self._word("queued")}
        if self.report_credits:
            answer["meta"] = {"usage": {"credits_used": job.credits}}
        return web.json_response(answer, status=self.post_status)

    async def _read(self, request: web.Request) -> web.StreamResponse:
        self._record(request, None)
        denied = self._auth(request)
        if denied is not None:
            return denied
        gen_id = request.query.get("generation_id")
        if not gen_id:
            return self._generic(
                request,
                400,
                "Query validation error!",
                detail=[{"loc": ["query", "generation_id"], "msg": "field required"}],
            )
        fault = self._next_fault("get")
        if fault == "slow":
            await asyncio.sleep(self.get_faults.slow_seconds)
        elif fault is not None:
            return await self._fault_response(request, fault)
        job = self.jobs.get(gen_id)
        if job is None:
            return self._generic(request, 404, f"Generation {gen_id} not found")
        job.polls += 1
        return web.json_response(self._view(job))

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self._record(request, None)
        name = request.match_info["name"].removesuffix(".mp4")
        if name not in self.jobs or request.query.get("v") != str(self.url_version):
            return web.Response(
                status=403,
                text="<Error><Code>AccessDenied</Code>"
                "<Message>Request has expired</Message></Error>",
                content_type="application/xml",
            )
        return web.Response(body=self._video, content_type="video/mp4")

    async def _jobs_report(self, request: web.Request) -> web.StreamResponse:
        """Every job with its timings, for tools outside this process (benchmarks)."""
        now = self._clock()
        jobs = [
            {
                "id": j.id,
                "created_at": j.created_at - now,
                "finish_at": j.finish_at - now,
                "seen_done_at": None if j.seen_done_at is None else j.seen_done_at - now,
                "polls": j.polls,
                "resolution": j.body.get("resolution"),
            }
            for j in self.jobs.values()
        ]
        return web.json_response({"jobs": jobs, "posts": self.post_count, "gets": self.get_count})

    # -- jobs --------------------------------------------------------------------------

    def _validate(self, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict):
            return [{"loc": ["body"], "msg": "expected a JSON object", "type": "type_error"}]
        problems = []

        def bad(field: str, msg: str) -> None:
            problems.append({"loc": ["body", field], "msg": msg, "type": "value_error"})

        model = body.get("model")
        spec = _catalog.spec_for(model) if isinstance(model, str) else None
        if spec is None:
            bad("model", f"unknown model {model!r}")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            bad("prompt", "field required")
        if spec is not None:
            if body.get("resolution", spec.default_resolution) not in spec.resolutions:
                bad("resolution", f"must be one of {list(spec.resolutions)}")
            duration = body.get("duration", spec.durations[0])
            if isinstance(duration, str) and duration.isdigit():
                duration = int(duration)
            if duration not in spec.durations:
                bad("duration", f"must be one of {list(spec.durations)}")
            if spec.image == "required" and not body.get("image_url"):
                bad("image_url", "field required")
        for field in ("image_url", "last_image_url"):
            value = body.get(field)
            if value is not None and not (
                isinstance(value, str) and value.startswith(("http://", "https://", "data:image/"))
            ):
                bad(field, "must be a URL or a base64 data URL")
        return problems

    def _new_id(self) -> str:
        if self.id_style == "uuid":
            return str(uuid.uuid4())
        if self.id_style == "nanoid":
            alphabet = string.ascii_letters + string.digits + "_-"
            return "".join(self._rng.choice(alphabet) for _ in range(21))
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        tail = "".join(self._rng.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        return f"cgt-{stamp}-{tail}{next(self._counter)}"

    def _new_job(self, body: dict[str, Any]) -> FakeJob:
        script = next((s for s in self._scripts if s.match(body)), None)
        if script is not None and script.times is not None:
            script.times -= 1
            if script.times <= 0:
                self._scripts.remove(script)
        resolution = str(body.get("resolution", "1080p"))
        try:
            duration = int(body.get("duration", 5))
        except (TypeError, ValueError):
            duration = 5
        if script is not None and script.processing_time is not None:
            seconds = script.processing_time
        elif self.processing_time is not None:
            seconds = self.processing_time
        else:
            model = str(body.get("model", ""))
            seconds = _catalog.expected_seconds(model, resolution, duration) * self.time_scale
            if self.spread:
                seconds *= max(0.2, self._rng.gauss(1.0, self.spread))
        now = self._clock()
        job = FakeJob(
            id=self._new_id(),
            body=body,
            created_at=now,
            finish_at=now + seconds,
            final_status=script.status if script else "completed",
            fail=script.fail if script else False,
            error_shape=script.error_shape if script else "name",
            credits=CREDITS_PER_5S.get(resolution, 600_000) * duration / 5,
        )
        self.jobs[job.id] = job
        return job

    def _word(self, status: str) -> str:
        return self.status_words.get(status, status)

    def _view(self, job: FakeJob) -> dict[str, Any]:
        now = self._clock()
        view: dict[str, Any] = {"id": job.id}
        if now < job.finish_at:
            started = job.created_at + 0.2 * (job.finish_at - job.created_at)
            view["status"] = self._word("queued" if now < started else "generating")
            return view
        if job.seen_done_at is None:
            job.seen_done_at = now
        view["status"] = self._word(job.final_status)
        if job.fail:
            if job.error_shape == "detail":
                view["error"] = {
                    "detail": [
                        {
                            "loc": ["body", "prompt"],
                            "msg": "prompt was rejected",
                            "type": "moderation",
                        }
                    ]
                }
            else:
                view["error"] = {"name": "GenerationError", "message": "The generation failed"}
            return view
        if job.final_status.lower() in ("completed", "succeeded", "success"):
            view["video"] = {
                "url": f"http://{self.file_host}:{self._port}/files/{job.id}.mp4"
                f"?X-Tos-Expires=86400&v={self.url_version}&X-Tos-Signature=fake"
            }
            view["meta"] = {"usage": {"credits_used": job.credits}}
        return view
