"""SeedanceClient: the lifecycle, and thin glue from requests to the scheduler."""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import os
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiohttp
import anyio
import attrs
import yarl

from . import _download, _images, _wire
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_REQUEST_TIMEOUT,
    PollPolicy,
    RetryPolicy,
    env_api_key,
    env_base_url,
)
from ._errors import (
    APIStatusError,
    ClientClosedError,
    GenerationFailed,
    InvalidRequestError,
    SeedanceError,
    SubmissionUncertainError,
)
from ._http import HttpCore
from ._ledger import Ledger
from ._models import Generation, GenerationStatus, JobOutcome, Usage, VideoRequest
from ._scheduler import Clock, PollScheduler, Sleep
from ._timing import Kind

if TYPE_CHECKING:
    from ._journal import Journal

logger: Final = logging.getLogger("seedance_async")

DEFAULT_WAIT_TIMEOUT: Final = 1800.0
MAX_BODY_BYTES: Final = 64 * 1024 * 1024


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class _Default(enum.Enum):
    """Marks "use the client's default", as distinct from an explicit None."""

    TOKEN = 0


DEFAULT: Final = _Default.TOKEN


def _version() -> str:
    from . import __version__

    return __version__


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class SeedanceClient:
    """An async client for the Seedance video models of the AI/ML API.

    Use it as ``async with SeedanceClient() as client:``. One client serves a whole
    process: it shares one HTTP session, one polling scheduler and one in-flight limit
    among every job and every caller.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        poll: PollPolicy | None = None,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        budget_credits: float | None = None,
        allow_insecure_http: bool = False,
        journal: Journal | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        key = api_key if api_key is not None else env_api_key()
        if not key or not key.strip():
            raise SeedanceError(
                "no API key: pass api_key=... or set the AIMLAPI_API_KEY environment variable"
            )
        if any(c in key for c in "\r\n"):
            raise SeedanceError("the API key contains a line break")
        self._api_key = key.strip()
        url = yarl.URL((base_url or env_base_url() or DEFAULT_BASE_URL).rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host:
            raise SeedanceError(f"base_url must be an http(s) URL, got {str(url)!r}")
        if url.scheme == "http" and not (allow_insecure_http or _is_loopback(url.host)):
            raise SeedanceError(
                f"refusing to send the API key over plain http to {url.host}; "
                "use https, or pass allow_insecure_http=True"
            )
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._base_url = url
        self._max_in_flight = max_in_flight
        self._poll = poll or PollPolicy()
        self._retry = retry or RetryPolicy()
        self._borrowed = session
        self._request_timeout = request_timeout
        self._clock: Clock = clock or time.monotonic
        self._sleep: Sleep = sleep or asyncio.sleep
        self._usage = Usage()
        self._limiter = anyio.CapacityLimiter(max_in_flight)
        self._state = _State.UNOPENED
        self._session: aiohttp.ClientSession | None = None
        self._http: HttpCore | None = None
        self._scheduler: PollScheduler | None = None
        self._ledger = Ledger(self._usage, budget_credits)
        self._creating = 0
        self._no_creates = asyncio.Event()
        self._no_creates.set()
        self._journal = journal
        self._opened_journals: list[Journal] = []

    def __repr__(self) -> str:
        return (
            f"<SeedanceClient base_url={str(self._base_url)!r} state={self._state.value} "
            f"in_flight={self.in_flight}/{self._max_in_flight}>"
        )

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> SeedanceClient:
        self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _open(self) -> None:
        if self._state is _State.CLOSED:
            raise ClientClosedError("this client is closed; create a new one")
        if self._state is _State.OPEN:
            return
        session = self._borrowed or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100),
        )
        timeout = aiohttp.ClientTimeout(
            total=self._request_timeout, sock_connect=DEFAULT_CONNECT_TIMEOUT
        )
        self._session = session
        self._http = HttpCore(
            session=session,
            base_url=self._base_url,
            api_key=self._api_key,
            retry=self._retry,
            timeout=timeout,
            user_agent=f"seedance-async/{_version()} aiohttp/{aiohttp.__version__}",
            sleep=self._sleep,
            usage=self._usage,
        )
        self._scheduler = PollScheduler(
            self._poll_once, self._poll, clock=self._clock, sleep=self._sleep
        )
        self._scheduler.start()
        self._state = _State.OPEN

    async def aclose(self) -> None:
        """Stop polling, wake every waiter with ``ClientClosedError``, close the session we own."""
        if self._state is not _State.OPEN:
            self._state = _State.CLOSED
            return
        self._state = _State.CLOSED
        with anyio.CancelScope(shield=True):
            if self._scheduler is not None:
                await self._scheduler.close()
            # create calls under way finish first (each is bounded by its timeout):
            # closing the session under them would make paid jobs ambiguous
            await self._no_creates.wait()
            if self._session is not None and self._borrowed is None:
                await self._session.close()
            for journal in self._opened_journals:
                await journal.close()

    close = aclose

    @property
    def closed(self) -> bool:
        return self._state is _State.CLOSED

    def _core(self) -> tuple[HttpCore, PollScheduler]:
        if self._state is not _State.OPEN:
            self._open()
        assert self._http is not None and self._scheduler is not None
        return self._http, self._scheduler

    # -- state -------------------------------------------------------------------------

    @property
    def usage(self) -> Usage:
        """Counts and credits so far (a live object)."""
        return self._usage

    @property
    def in_flight(self) -> int:
        """Jobs submitted (or being submitted) and not yet finished."""
        return int(self._limiter.borrowed_tokens)

    @property
    def max_in_flight(self) -> int:
        return self._max_in_flight

    # -- one job -----------------------------------------------------------------------

    async def submit(self, request: VideoRequest) -> Generation:
        """Create one job (the paid call). Returns at once with the queued generation.

        Waits for a free in-flight slot first; the slot is held until the job ends.
        With a journal, the attempt is on disk before the POST and the id right after.
        """
        if not isinstance(request, VideoRequest):
            raise InvalidRequestError(
                "request", f"expected a VideoRequest, got {type(request).__name__}"
            )
        journal = await self._journal_for(None)
        key = None
        if journal is not None:
            from ._journal import request_key

            key = request.key or f"{await request_key(request)}@{uuid.uuid4().hex[:12]}"
        return await self._submit(request, journal, key)

    async def _submit(
        self, request: VideoRequest, journal: Journal | None, key: str | None
    ) -> Generation:
        if not isinstance(request, VideoRequest):
            raise InvalidRequestError(
                "request", f"expected a VideoRequest, got {type(request).__name__}"
            )
        http, _ = self._core()
        body = await self._wire_body(request)
        self._ledger.check()
        slot = await self._take_slot()
        try:
            async with self._ledger.submission():
                submitted_at = self._clock()
                # Once sent, the call runs to its end even if we are cancelled: the
                # answer carries the id of a job that is being paid for.
                with anyio.CancelScope(shield=True):
                    self._creating += 1
                    self._no_creates.clear()
                    try:
                        if journal and key:
                            await journal.submitting(key, request)
                        gen = await self._create(http, body, request, journal, key)
                    finally:
                        self._creating -= 1
                        if not self._creating:
                            self._no_creates.set()
            # The job was created between sending and receiving: its clock starts there.
            submitted_at = (submitted_at + self._clock()) / 2
            self._ledger.submitted(gen)
            if gen.is_terminal:
                slot()
                if journal:
                    await journal.finished(gen)
            else:
                try:
                    self._track(gen.id, request, slot, submitted_at=submitted_at, first=gen)
                except ClientClosedError:
                    slot()  # closed while the POST was out: the job exists, return its id
            return gen
        except BaseException:
            slot()
            raise

    async def _create(
        self,
        http: HttpCore,
        body: dict[str, Any],
        request: VideoRequest,
        journal: Journal | None,
        key: str | None,
    ) -> Generation:
        try:
            gen = await http.create(body, request)
            logger.info("submitted generation %s (%s)", gen.id, request.model)
        except SubmissionUncertainError as exc:
            if journal and key:
                await journal.uncertain(key, str(exc))
            raise
        except BaseException:
            if journal and key:  # refused before a job could exist
                await journal.not_submitted(key)
            raise
        if gen.raw_status == "":  # the create answer gave no status: it is queued
            gen = attrs.evolve(gen, status=GenerationStatus.QUEUED, raw_status="queued")
        if journal and key:
            await journal.submitted(key, gen)
        return gen

    async def _take_slot(self) -> Callable[[], None]:
        """Take an in-flight slot; the returned function gives it back (once)."""
        token = object()
        try:  # the common case costs no trip through the event loop
            self._limiter.acquire_on_behalf_of_nowait(token)
        except anyio.WouldBlock:
            await self._limiter.acquire_on_behalf_of(token)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._limiter.release_on_behalf_of(token)

        return release

    def _track(
        self,
        gen_id: str,
        request: VideoRequest | None,
        slot: Callable[[], None],
        *,
        submitted_at: float | None = None,
        first: Generation | None = None,
    ) -> None:
        _, scheduler = self._core()
        scheduler.track(
            gen_id,
            kind=_kind(request) if request else None,
            submitted_at=submitted_at,
            on_finish=slot,
            first=first,
        )

    async def _attach(self, gen_id: str, request: VideoRequest) -> None:
        """Watch a job submitted earlier (by a previous run), holding an in-flight slot."""
        slot = await self._take_slot()
        try:
            self._track(gen_id, request, slot)
        except BaseException:
            slot()
            raise

    async def retrieve(self, generation_id: str) -> Generation:
        """Read a job's status once (one GET, retried on transient failures)."""
        http, _ = self._core()
        gen_id = _check_id(generation_id)
        self._usage.polls += 1
        return await http.retrieve(gen_id)

    async def wait(
        self, generation_id: str | Generation, timeout: float | _Default | None = DEFAULT
    ) -> Generation:
        """Wait until the job is finished; the COMPLETED generation.

        Raises ``GenerationFailed`` if it failed and ``GenerationTimeout`` after
        ``timeout`` seconds (default 30 minutes; ``None`` waits without limit).
        """
        gen_id = _check_id(
            generation_id.id if isinstance(generation_id, Generation) else generation_id
        )
        return await self._wait(gen_id, timeout, await self._journal_for(None))

    async def _wait(
        self, gen_id: str, timeout: float | _Default | None, journal: Journal | None
    ) -> Generation:
        _, scheduler = self._core()
        limit = DEFAULT_WAIT_TIMEOUT if isinstance(timeout, _Default) else timeout
        gen = await scheduler.wait(gen_id, limit)
        if journal is not None:
            with anyio.CancelScope(shield=True):
                await journal.finished(gen)
        if gen.is_failed:
            raise GenerationFailed(gen)
        return gen

    async def generate(
        self, request: VideoRequest, timeout: float | _Default | None = DEFAULT
    ) -> Generation:
        """Submit and wait: the COMPLETED generation. ``timeout`` applies to the wait."""
        gen = await self.submit(request)
        return await self.wait(gen.id, timeout)

    async def updates(self, generation_id: str | Generation) -> AsyncGenerator[Generation, None]:
        """Each status change of a job, ending with its terminal state (failed ones too)."""
        _, scheduler = self._core()
        gen_id = _check_id(
            generation_id.id if isinstance(generation_id, Generation) else generation_id
        )
        async for gen in scheduler.updates(gen_id):
            yield gen

    # -- many jobs ---------------------------------------------------------------------

    def generate_many(
        self,
        requests: Iterable[VideoRequest] | AsyncIterable[VideoRequest],
        *,
        concurrency: int | None = None,
        timeout: float | _Default | None = DEFAULT,
        journal: Journal | None = None,
        resubmit_uncertain: bool = False,
    ) -> AsyncGenerator[JobOutcome, None]:
        """Run many jobs; yield a ``JobOutcome`` for each as it finishes.

        ``requests`` is read lazily. One job's failure never stops the others. Leaving
        the loop early stops submitting; jobs already submitted are logged with their ids.

        With a ``journal`` (or the client's), a rerun of the same input resumes: finished
        jobs are reported without a request, submitted ones are waited on by id, and jobs
        whose create call may have gone out without an id recorded are reported as
        ``SubmissionUncertainError`` unless ``resubmit_uncertain`` is true.
        """
        from ._bulk import Batch

        self._core()
        workers = concurrency if concurrency is not None else self._max_in_flight
        if workers < 1:
            raise ValueError("concurrency must be at least 1")
        batch = Batch(self, journal, timeout=timeout, resubmit_uncertain=resubmit_uncertain)
        return batch.run(requests, workers)

    # -- files -------------------------------------------------------------------------

    async def download(
        self,
        generation: Generation | str,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    ) -> Path:
        """Save a completed job's video to ``path`` (streamed, atomic, no key sent).

        If the signed URL has expired (403/404/410), a fresh one is fetched once.
        """
        self._core()
        assert self._session is not None
        gen = generation if isinstance(generation, Generation) else await self.retrieve(generation)
        dest = Path(path)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=DEFAULT_CONNECT_TIMEOUT, sock_read=self._request_timeout
        )
        for attempt in (1, 2):
            if not gen.is_completed or not gen.video_url:
                raise SeedanceError(
                    f"generation {gen.id} has no video to download (status {gen.raw_status!r})"
                )
            try:
                await _download.fetch_to_file(
                    self._session, gen.video_url, dest, max_bytes=max_bytes, timeout=timeout
                )
                return dest
            except APIStatusError as exc:
                if attempt == 2 or not _download.is_expired(exc):
                    raise
                logger.info("video URL of %s expired; fetching a fresh one", gen.id)
                gen = await self.retrieve(gen.id)
        raise AssertionError("unreachable")

    # -- helpers -----------------------------------------------------------------------

    async def _poll_once(self, generation_id: str) -> Generation:
        assert self._http is not None
        self._usage.polls += 1
        gen = await self._http.retrieve(generation_id, retry=False)
        if gen.is_terminal:
            self._ledger.ended(gen)
        return gen

    async def _wire_body(self, request: VideoRequest) -> dict[str, Any]:
        first = await _images.to_url("image_url", request.image_url)
        last = await _images.to_url("last_image_url", request.last_image_url)
        body = _wire.request_body(request, first, last)
        size = sum(len(v) for v in (first, last) if v) + len(request.prompt) * 4
        if size > MAX_BODY_BYTES:
            raise InvalidRequestError("image_url", "the request body would be over 64 MB")
        return body

    async def _journal_for(self, explicit: Journal | None) -> Journal | None:
        journal = explicit or self._journal
        if journal is not None and not journal.is_open:
            await journal.open()
            self._opened_journals.append(journal)
        return journal


def _kind(request: VideoRequest) -> Kind:
    return (request.model, request.resolution, request.duration)


def _check_id(generation_id: object) -> str:
    if not isinstance(generation_id, str) or not generation_id.strip():
        raise InvalidRequestError("generation_id", "must be a non-empty string")
    return generation_id
