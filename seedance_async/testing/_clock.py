"""A manual clock for deterministic tests of anything that takes ``clock`` and ``sleep``."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class FakeClock:
    """Time that moves only when told: pass ``clock=fake.now, sleep=fake.sleep``.

    ``await fake.advance(seconds)`` wakes every sleeper due in that span, in order,
    letting the event loop run after each.
    """

    __slots__ = ("_now", "_seq", "_sleepers")

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __repr__(self) -> str:
        return f"<FakeClock now={self._now:.3f} sleepers={len(self._sleepers)}>"

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    async def settle(self, rounds: int = 20) -> None:
        """Let every task that can run, run."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        target = self._now + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            due, _, fut = heapq.heappop(self._sleepers)
            if fut.done():
                continue
            self._now = max(self._now, due)
            fut.set_result(None)
            await self.settle()
        self._now = target
        await self.settle()

    async def run_until(self, condition: object, *, step: float = 0.1, limit: float = 3600) -> None:
        """Advance in ``step`` until ``condition()`` is true (or ``limit`` seconds pass)."""
        assert callable(condition)
        spent = 0.0
        while not condition():
            if spent >= limit:
                raise TimeoutError(f"condition not met after {limit}s of fake time")
            await self.advance(step)
            spent += step
