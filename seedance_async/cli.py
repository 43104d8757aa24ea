"""The ``seedance-async`` command (needs the ``cli`` extra).

Exit codes: 0 all done, 1 some jobs failed (or an API error), 2 bad usage.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

try:
    import click
    from rich.console import Console
except ImportError as exc:  # pragma: no cover - depends on the install
    raise SystemExit(
        "the seedance-async command needs the cli extra: pip install 'seedance-async[cli]'"
    ) from exc

from ._client import SeedanceClient
from ._config import PollPolicy
from ._errors import InvalidRequestError, SeedanceError
from ._models import Generation, VideoRequest

T = TypeVar("T")
DEMO_KEY = "sk-demo-fake-server"

console = Console(stderr=False, highlight=False)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


class Settings:
    def __init__(
        self, api_key: str | None, base_url: str | None, verbose: int, poll_scale: float
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.verbose = verbose
        self.poll_scale = poll_scale

    def client(self, **kw: Any) -> SeedanceClient:
        policy = PollPolicy(time_scale=self.poll_scale)
        return SeedanceClient(self.api_key, base_url=self.base_url, poll=policy, **kw)


def _fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}")
    raise SystemExit(code)


def _run(settings: Settings, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine; expected errors become one clear line (``--verbose`` for more)."""
    try:
        return asyncio.run(main())
    except InvalidRequestError as exc:
        if settings.verbose:
            errors.print_exception()
        _fail(str(exc), 2)
    except SeedanceError as exc:
        if settings.verbose:
            errors.print_exception()
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api-key", envvar="AIMLAPI_API_KEY", help="API key (default: $AIMLAPI_API_KEY).")
@click.option("--base-url", envvar="SEEDANCE_BASE_URL", help="API base URL.")
@click.option("-v", "--verbose", count=True, help="Log more (-vv for debug) and show tracebacks.")
@click.option(
    "--poll-time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Compress the poll schedule (for fast fake servers).",
)
@click.version_option(package_name="seedance-async")
@click.pass_context
def main(
    ctx: click.Context,
    api_key: str | None,
    base_url: str | None,
    verbose: int,
    poll_time_scale: float,
) -> None:
    """Generate videos with the Seedance models of the AI/ML API."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Settings(api_key, base_url, verbose, poll_time_scale)


def _image(value: str | None) -> str | Path | None:
    if value is None:
        return None
    if value.startswith(("http://", "https://", "data:")):
        return value
    return Path(value)


@main.command()
@click.option("--image", "image", help="First frame: a local file or an http(s) URL.")
@click.option("--last-image", help="Last frame: a local file or an http(s) URL.")
@click.option("--prompt", required=True, help="What should happen in the video.")
@click.option("--resolution", type=click.Choice(["480p", "720p", "1080p"]))
@click.option("--duration", type=int)
@click.option("--seed", type=int)
@click.option("--camerafixed/--no-camerafixed", default=None)
@click.option("--model", default="bytedance/seedance-1-0-pro-i2v", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--timeout", type=float, default=1800, show_default=True)
@click.pass_obj
def generate(
    settings: Settings,
    image: str | None,
    last_image: str | None,
    prompt: str,
    resolution: str | None,
    duration: int | None,
    seed: int | None,
    camerafixed: bool | None,
    model: str,
    output: Path | None,
    timeout: float,
) -> None:
    """Generate one video: prints the id at once, shows its status, downloads it."""

    async def run() -> None:
        request = VideoRequest(
            prompt=prompt,
            image_url=_image(image),
            last_image_url=_image(last_image),
            resolution=resolution,  # type: ignore[arg-type]
            duration=duration,  # type: ignore[arg-type]
            seed=seed,
            camerafixed=camerafixed,
            model=model,
        )
        async with settings.client() as client:
            gen = await client.submit(request)
            console.print(f"generation id: {gen.id}")
            with console.status(f"{gen.id}: {gen.raw_status}") as status:
                async with asyncio.timeout(timeout):
                    async for update in client.updates(gen.id):
                        status.update(f"{gen.id}: {update.raw_status}")
                        gen = update
            if not gen.is_completed:
                _fail(f"generation {gen.id} ended as {gen.raw_status}: {gen.error}")
            path = await client.download(gen, output or Path(f"{gen.id}.mp4"))
            console.print(f"saved {path}")

    _run(settings, run)


@main.command()
@click.argument("jobs", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--concurrency", type=click.IntRange(1, 1000), default=8, show_default=True)
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("videos"),
    show_default=True,
)
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--resubmit-uncertain", is_flag=True, help="Pay again for jobs that may exist.")
@click.pass_obj
def batch(
    settings: Settings,
    jobs: Path,
    concurrency: int,
    journal: Path | None,
    out_dir: Path,
    report: Path | None,
    resubmit_uncertain: bool,
) -> None:
    """Run every job of JOBS (JSON Lines or CSV). Rerun the same command to resume."""
    from ._batch import default_journal, run_batch

    journal_path = journal or default_journal(jobs)

    async def run() -> bool:
        async with settings.client(max_in_flight=concurrency) as client:
            result = await run_batch(
                client,
                jobs,
                out_dir=out_dir,
                journal_path=journal_path,
                concurrency=concurrency,
                report=report,
                console=console,
                resubmit_uncertain=resubmit_uncertain,
            )
        return result.all_ok

    try:
        ok = _run(settings, run)
    except KeyboardInterrupt:
        errors.print("\ninterrupted; the journal is kept. Resume with:")
        errors.print("  " + shlex.join(["seedance-async", *sys.argv[1:]]))
        raise SystemExit(1) from None
    raise SystemExit(0 if ok else 1)


def _show(gen: Generation) -> None:
    console.print_json(
        json.dumps(
            {
                "id": gen.id,
                "status": gen.status.value,
                "raw_status": gen.raw_status,
                "video_url": gen.video_url,
                "error": None
                if gen.error is None
                else {"name": gen.error.name, "message": gen.error.message},
                "credits_used": gen.credits_used,
            }
        )
    )


def _one(settings: Settings, call: Callable[[SeedanceClient], Awaitable[T]]) -> T:
    async def run() -> T:
        async with settings.client() as client:
            return await call(client)

    return _run(settings, run)


@main.command()
@click.argument("generation_id")
@click.pass_obj
def status(settings: Settings, generation_id: str) -> None:
    """Show a job's status once."""
    _show(_one(settings, lambda c: c.retrieve(generation_id)))


@main.command()
@click.argument("generation_id")
@click.option("--timeout", type=float, default=1800, show_default=True)
@click.pass_obj
def wait(settings: Settings, generation_id: str, timeout: float) -> None:
    """Wait for a job to finish and show it."""
    _show(_one(settings, lambda c: c.wait(generation_id, timeout=timeout)))


@main.command()
@click.argument("generation_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.pass_obj
def download(settings: Settings, generation_id: str, output: Path) -> None:
    """Download a finished job's video (a fresh link is fetched if it expired)."""
    path = _one(settings, lambda c: c.download(generation_id, output))
    console.print(f"saved {path}")


@main.command("fake-server")
@click.option("--port", type=int, default=8765, show_default=True, help="0 picks a free port.")
@click.option("--time-scale", type=float, default=0.05, show_default=True)
@click.option("--processing-time", type=float, help="Fixed seconds per job.")
@click.option("--spread", type=float, default=0.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def fake_server(
    port: int, time_scale: float, processing_time: float | None, spread: float, seed: int
) -> None:
    """Serve the fake API on 127.0.0.1 for other programs (Ctrl-C stops it).

    The first line printed is the URL. GET /_fake/jobs reports every job's timings.
    """
    from .testing import FakeSeedanceServer

    async def run() -> None:
        fake = FakeSeedanceServer(
            port=port,
            time_scale=time_scale,
            processing_time=processing_time,
            spread=spread,
            seed=seed,
        )
        fake.keep_records = False
        async with fake:
            print(fake.url, flush=True)
            console.print("fake Seedance API ready (any key works)")
            await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        console.print("stopped")


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("seedance-demo"),
    show_default=True,
)
@click.option("--jobs", "count", type=click.IntRange(1, 100), default=6, show_default=True)
def demo(out_dir: Path, count: int) -> None:
    """Run a small batch end to end on the embedded fake API: no key, no network."""
    from ._batch import default_journal, run_batch
    from .testing import FakeSeedanceServer
    from .testing.images import png_bytes

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "first-frame.png").write_bytes(png_bytes(960, 540))
    jobs = out_dir / "jobs.jsonl"
    resolutions = ["480p", "720p", "1080p"]
    with jobs.open("w") as f:
        for i in range(count):
            line: dict[str, Any] = {
                "prompt": f"Demo clip {i + 1}: a paper boat drifts across a pond",
                "resolution": resolutions[i % 3],
                "seed": i,
                "output": f"demo-{i + 1}.mp4",
            }
            if i % 2:
                line["image_path"] = "first-frame.png"
            else:
                line["image_url"] = "https://example.com/first-frame.jpg"
            f.write(json.dumps(line) + "\n")
    journal = default_journal(jobs)
    journal.unlink(missing_ok=True)

    async def run() -> bool:
        async with FakeSeedanceServer(time_scale=0.05, spread=0.1) as fake:
            console.print(f"fake API at {fake.url}; running {count} jobs from {jobs}")
            policy = PollPolicy(time_scale=0.05)
            async with SeedanceClient(DEMO_KEY, base_url=fake.url, poll=policy) as client:
                result = await run_batch(
                    client,
                    jobs,
                    out_dir=out_dir,
                    journal_path=journal,
                    concurrency=4,
                    report=out_dir / "report.json",
                    console=console,
                )
            console.print(
                f"{fake.post_count} create calls (one per job), {fake.get_count} status "
                "reads: the first jobs of each kind check early while the client learns "
                "how long such jobs take"
            )
        return result.all_ok

    settings = Settings(DEMO_KEY, None, 0, 1.0)
    ok = _run(settings, run)
    console.print(f"videos in {out_dir}/")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":  # pragma: no cover
    main()
