"""generate_many: workers that pull requests lazily, run each job, and report it.

Also where a journal is consulted on a rerun: finished jobs are reported from it,
submitted ones are waited on by id, and none is paid for twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from typing import TYPE_CHECKING, Final

import anyio

from ._errors import GenerationFailed, InvalidRequestError, SubmissionUncertainError
from ._models import Generation, JobOutcome, VideoRequest

if TYPE_CHECKING:
    from ._client import SeedanceClient, _Default
    from ._journal import Journal, JournalEntry

logger: Final = logging.getLogger("seedance_async")

_WORKER_DONE: Final = object()


class _SourceFailed:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class BatchKeys:
    """Journal keys for one batch: ``request.key``, or the request's hash with a count
    for repeats (identical requests in one input are distinct jobs)."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    async def key(self, request: object) -> str | None:
        if not isinstance(request, VideoRequest):
            return None
        if request.key:
            return request.key
        from ._journal import request_key

        digest = await request_key(request)
        count = self._seen.get(digest, 0) + 1
        self._seen[digest] = count
        return digest if count == 1 else f"{digest}#{count}"


async def numbered(
    requests: Iterable[VideoRequest] | AsyncIterable[VideoRequest],
) -> AsyncIterator[tuple[int, VideoRequest]]:
    index = 0
    if isinstance(requests, AsyncIterable):
        async for request in requests:
            yield index, request
            index += 1
    else:
        for request in requests:
            yield index, request
            index += 1


class Batch:
    """One call of ``generate_many``."""

    def __init__(
        self,
        client: SeedanceClient,
        journal: Journal | None,
        *,
        timeout: float | _Default | None,
        resubmit_uncertain: bool,
    ) -> None:
        self._client = client
        self._journal_arg = journal
        self._timeout = timeout
        self._resubmit_uncertain = resubmit_uncertain

    async def run(
        self,
        requests: Iterable[VideoRequest] | AsyncIterable[VideoRequest],
        workers: int,
    ) -> AsyncGenerator[JobOutcome, None]:
        journal = await self._client._journal_for(self._journal_arg)
        keys = BatchKeys()
        source = numbered(requests)
        pull = asyncio.Lock()
        outcomes: asyncio.Queue[object] = asyncio.Queue(maxsize=workers)
        exhausted = False

        async def worker() -> None:
            nonlocal exhausted
            while True:
                async with pull:
                    if exhausted:
                        break
                    try:
                        index, request = await anext(source)
                        # keys in input order: repeats of one request count up stably
                        key = await keys.key(request) if journal is not None else None
                    except StopAsyncIteration:
                        exhausted = True
                        break
                    except Exception as exc:
                        exhausted = True
                        await outcomes.put(_SourceFailed(exc))
                        break
                await outcomes.put(await self._one_job(index, request, journal, key))
            await outcomes.put(_WORKER_DONE)

        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(worker(), name=f"seedance-worker-{i}") for i in range(workers)]
        try:
            finished = 0
            while finished < len(tasks):
                item = await outcomes.get()
                if item is _WORKER_DONE:
                    finished += 1
                elif isinstance(item, _SourceFailed):
                    raise item.error
                else:
                    assert isinstance(item, JobOutcome)
                    yield item
        finally:
            for task in tasks:
                task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _one_job(
        self, index: int, request: object, journal: Journal | None, key: str | None
    ) -> JobOutcome:
        if not isinstance(request, VideoRequest):
            error = InvalidRequestError(
                "request", f"item {index} is a {type(request).__name__}, not a VideoRequest"
            )
            return JobOutcome(index=index, request=None, error=error)
        gen_id: str | None = None
        try:
            if journal is not None and key is not None:
                entry = await journal.get(key)
                if entry is not None and not (
                    self._resubmit_uncertain and entry.state in ("submitting", "uncertain")
                ):
                    gen_id = entry.generation_id
                    done = await self._resume(entry, request, journal)
                    return JobOutcome(index, request, done, None, done.id, key)
            gen = await self._client._submit(request, journal, key)
            gen_id = gen.id
            done = await self._client._wait(gen.id, self._timeout, journal)
            return JobOutcome(index, request, done, None, done.id, key)
        except Exception as exc:
            if isinstance(exc, GenerationFailed):
                gen_id = exc.generation.id
            if gen_id:
                logger.warning("job %d (generation %s) did not complete: %s", index, gen_id, exc)
            else:
                logger.warning("job %d was not submitted: %s", index, exc)
            return JobOutcome(index, request, None, exc, gen_id, key)

    async def _resume(
        self, entry: JournalEntry, request: VideoRequest, journal: Journal
    ) -> Generation:
        """A job the journal already knows: report it, or wait on it, never pay again."""
        finished = entry.generation()
        if finished is not None:
            if finished.is_failed:
                raise GenerationFailed(finished)
            return finished
        if entry.state == "submitted" and entry.generation_id:
            logger.info("re-attaching to generation %s (%s)", entry.generation_id, entry.key)
            await self._client._attach(entry.generation_id, request)
            return await self._client._wait(entry.generation_id, self._timeout, journal)
        raise SubmissionUncertainError(
            f"job {entry.key}: an earlier run sent its create call but recorded no id "
            "(it may exist and be billed); not sending it again. Pass "
            "resubmit_uncertain=True to pay for it again.",
            request=request,
        )
