"""The batch runner behind ``seedance-async batch`` and ``demo`` (needs the ``cli`` extra).

Reads a JOBS file lazily, runs it through ``generate_many`` with a journal, downloads
each video as its job finishes, and shows progress with rich.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import attrs
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ._client import SeedanceClient
from ._errors import SeedanceError
from ._jobs_file import BadLine, JobLine, count_jobs, read_jobs
from ._journal import Journal
from ._models import JobOutcome, VideoRequest

DOWNLOADS_AT_ONCE = 4


@attrs.define
class BatchResult:
    rows: list[dict[str, Any]] = attrs.Factory(list)
    counts: Counter[str] = attrs.Factory(Counter)
    credits: float = 0.0

    @property
    def all_ok(self) -> bool:
        return set(self.counts) <= {"downloaded"}


def default_journal(jobs: Path) -> Path:
    return jobs.with_name(jobs.name + ".journal.sqlite")


async def run_batch(
    client: SeedanceClient,
    jobs: Path,
    *,
    out_dir: Path,
    journal_path: Path,
    concurrency: int,
    report: Path | None,
    console: Console,
    resubmit_uncertain: bool = False,
) -> BatchResult:
    """Run every job of ``jobs``; the journal makes a rerun resume where this one stopped."""
    result = BatchResult()
    meta: dict[int, JobLine] = {}
    total = await anyio.to_thread.run_sync(count_jobs, jobs)
    await anyio.Path(out_dir).mkdir(parents=True, exist_ok=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[counts]}"),
        console=console,
        transient=False,
    )

    def requests() -> Iterator[VideoRequest]:
        index = 0
        for item in read_jobs(jobs):
            if isinstance(item, BadLine):
                console.print(f"[red]line {item.line}:[/red] {item.message}")
                record(item.line, None, None, "invalid", error=item.message)
                continue
            meta[index] = item
            index += 1
            yield item.request

    def record(
        line: int, job: JobLine | None, outcome: JobOutcome | None, state: str, **extra: Any
    ) -> None:
        result.counts[state] += 1
        row: dict[str, Any] = {"line": line, "state": state}
        if job is not None:
            row["prompt"] = job.request.prompt
        if outcome is not None:
            row["key"] = outcome.key
            row["generation_id"] = outcome.generation_id
            if outcome.generation is not None:
                row["video_url"] = outcome.generation.video_url
                result.credits += outcome.generation.credits_used or 0.0
            if outcome.error is not None:
                row["error"] = f"{type(outcome.error).__name__}: {outcome.error}"
        row.update(extra)
        result.rows.append(row)
        shown = "  ".join(f"{k}={v}" for k, v in sorted(result.counts.items()))
        progress.update(
            task, advance=1, counts=f"{shown}  credits={client.usage.credits_used:,.0f}"
        )

    async def finish(job: JobLine, outcome: JobOutcome, journal: Journal) -> None:
        if not outcome.ok or outcome.generation is None:
            console.print(f"[red]line {job.line}:[/red] {outcome.error}")
            record(job.line, job, outcome, "failed")
            return
        name = job.output or f"job-{job.line:05d}.mp4"
        dest = out_dir / name
        entry = await journal.get(outcome.key) if outcome.key else None
        if entry is not None and entry.path and await anyio.Path(entry.path).exists():
            record(job.line, job, outcome, "downloaded", path=entry.path, skipped=True)
            return
        try:
            async with downloads:
                await client.download(outcome.generation, dest)
        except SeedanceError as exc:
            console.print(f"[red]line {job.line}:[/red] download failed: {exc}")
            record(job.line, job, outcome, "download_failed", error=str(exc))
            return
        if outcome.key:
            await journal.downloaded(outcome.key, dest)
        record(job.line, job, outcome, "downloaded", path=str(dest))

    downloads = anyio.Semaphore(DOWNLOADS_AT_ONCE)
    started = time.monotonic()
    with progress:
        task = progress.add_task(jobs.name, total=total, counts="")
        async with Journal(journal_path) as journal, anyio.create_task_group() as tg:
            stream = client.generate_many(
                requests(),
                concurrency=concurrency,
                journal=journal,
                resubmit_uncertain=resubmit_uncertain,
            )
            try:
                async for outcome in stream:
                    job = meta.pop(outcome.index)
                    tg.start_soon(finish, job, outcome, journal)
            finally:
                await stream.aclose()
    elapsed = time.monotonic() - started
    console.print(_summary(result, elapsed))
    if report is not None:
        rows = sorted(result.rows, key=lambda r: r["line"])
        await anyio.Path(report).write_text(json.dumps(rows, indent=2))
        console.print(f"report written to {report}")
    return result


def _summary(result: BatchResult, elapsed: float) -> Table:
    table = Table(title=f"Batch summary ({elapsed:.1f}s)")
    table.add_column("state")
    table.add_column("jobs", justify="right")
    for state, n in sorted(result.counts.items()):
        table.add_row(state, str(n))
    table.add_row("credits", f"{result.credits:,.0f} (${result.credits / 2_000_000:.2f})")
    return table
