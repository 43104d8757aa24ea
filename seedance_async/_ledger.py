"""Money: what this client has spent (from what answers report) and its budget."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ._errors import BudgetExceededError
from ._models import Generation, Usage


class Ledger:
    """Counts jobs and credits into ``usage``, and refuses submissions over ``budget``.

    The estimate of a job's price is the average of the prices reported so far; the
    price of submissions under way is reserved until their answers come back.
    """

    __slots__ = ("_budget", "_first_price", "_priced", "_reserved", "_uncharged", "usage")

    def __init__(self, usage: Usage, budget: float | None) -> None:
        self.usage = usage
        self._budget = budget
        self._reserved = 0.0
        self._priced = 0
        self._uncharged: set[str] = set()
        self._first_price = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<Ledger spent={self.usage.credits_used:g} budget={self._budget}>"

    def estimate(self) -> float:
        return self.usage.credits_used / self._priced if self._priced else 0.0

    def check(self) -> None:
        """Raise ``BudgetExceededError`` if one more job would go over the budget."""
        if self._budget is None:
            return
        spent = self.usage.credits_used + self._reserved
        estimate = self.estimate()
        if spent + estimate > self._budget or (estimate == 0 and spent >= self._budget):
            raise BudgetExceededError(
                f"submitting would go over the budget of {self._budget:g} credits "
                f"({spent:g} used, about {estimate:g} per job)",
                budget=self._budget,
                spent=spent,
                estimate=estimate,
            )

    @contextlib.asynccontextmanager
    async def submission(self) -> AsyncIterator[None]:
        """Around one create call: checks the budget and reserves the estimated price.

        With a budget and no price seen yet, one submission at a time: the first
        answers tell what a job costs before several are paid for blind.
        """
        guard = (
            contextlib.nullcontext() if self._budget is None or self._priced else self._first_price
        )
        async with guard:
            self.check()
            reserved = self.estimate()
            self._reserved += reserved
            try:
                yield
            finally:
                self._reserved -= reserved

    def submitted(self, gen: Generation) -> None:
        """A create call answered: count it, with its price if the answer gave one."""
        self.usage.submitted += 1
        if gen.credits_used is not None:
            self.usage.credits_used += gen.credits_used
            self._priced += 1
        elif not gen.is_terminal:
            self._uncharged.add(gen.id)
        if gen.is_terminal:
            self.ended(gen)

    def ended(self, gen: Generation) -> None:
        """A job reached a terminal state."""
        if gen.id in self._uncharged:
            self._uncharged.discard(gen.id)
            if gen.credits_used is not None:  # the create answer did not say; this does
                self.usage.credits_used += gen.credits_used
                self._priced += 1
        if gen.is_completed:
            self.usage.completed += 1
        else:
            self.usage.failed += 1
