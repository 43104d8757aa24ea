"""The seedance-async command, run as users run it: in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from seedance_async.testing import FakeSeedanceServer
from seedance_async.testing.images import png_bytes

from .conftest import KEY


async def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    full_env = {**os.environ, "AIMLAPI_API_KEY": KEY, **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "seedance_async", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=full_env, cwd=cwd,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def fast(fake: FakeSeedanceServer) -> list[str]:
    return ["--base-url", fake.url, "--poll-time-scale", "0.02"]


async def test_demo_runs_with_no_key_and_leaves_videos(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AIMLAPI_API_KEY"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "seedance_async", "demo", "--out", str(tmp_path / "demo"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    videos = sorted((tmp_path / "demo").glob("demo-*.mp4"))
    assert len(videos) == 6
    assert all(v.read_bytes()[4:8] == b"ftyp" for v in videos)
    assert "downloaded" in out.decode()


async def test_generate_prints_id_and_downloads(tmp_path: Path) -> None:
    image = tmp_path / "frame.png"
    image.write_bytes(png_bytes(640, 480))
    async with FakeSeedanceServer(processing_time=0.3) as fake:
        code, out, err = await cli(
            *fast(fake), "generate", "--image", str(image), "--prompt", "a boat",
            "--resolution", "480p", "-o", str(tmp_path / "boat.mp4"),
        )  # fmt: skip
        assert code == 0, err
        (job_id,) = fake.jobs
        assert f"generation id: {job_id}" in out
        assert (tmp_path / "boat.mp4").read_bytes()[4:8] == b"ftyp"
        assert fake.api_requests("POST")[0].json["image_url"].startswith("data:image/png;base64,")

        code, out, _ = await cli(*fast(fake), "status", job_id)
        assert code == 0 and json.loads(out)["status"] == "completed"
        code, out, _ = await cli(*fast(fake), "wait", job_id, "--timeout", "10")
        assert code == 0 and json.loads(out)["video_url"].startswith("http://localhost")
        code, out, _ = await cli(*fast(fake), "download", job_id, "-o", str(tmp_path / "again.mp4"))
        assert code == 0 and (tmp_path / "again.mp4").exists()
        assert KEY not in out


async def test_expected_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    async with FakeSeedanceServer(processing_time=0.1, api_key="the-right-one") as fake:
        code, out, err = await cli(*fast(fake), "status", "cgt-1")
        assert code == 1
        assert err.strip().startswith("error:") and len(err.strip().splitlines()) <= 2
        assert "Traceback" not in err and KEY not in err + out
        code, _, err = await cli(*fast(fake), "generate", "--prompt", "x", "--image", "missing.png")
        assert code == 2 and "image_url" in err and "Traceback" not in err
        code, _, err = await cli(*fast(fake), "generate")
        assert code == 2 and "--prompt" in err
        code, _, err = await cli(*fast(fake), "-v", "status", "cgt-1")
        assert code == 1 and "Traceback" in err
        assert fake.post_count == 0


async def test_failed_job_exit_code(tmp_path: Path) -> None:
    async with FakeSeedanceServer(processing_time=0.1) as fake:
        fake.script("doomed", fail=True, status="failed")
        code, _, err = await cli(
            *fast(fake), "generate", "--prompt", "doomed", "-o", str(tmp_path / "x.mp4")
        )
        assert code == 1 and "failed" in err


async def test_batch_bad_lines_csv_report_and_exit_code(tmp_path: Path) -> None:
    (tmp_path / "f.png").write_bytes(png_bytes(640, 480))
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(
        "prompt,image_path,resolution,duration,key,output\n"
        "a fox,f.png,480p,5,fox,fox.mp4\n"
        "bad duration,,480p,7,,\n"
        ",,480p,5,,\n"
        "an owl,,720p,5,owl,\n"
    )
    async with FakeSeedanceServer(processing_time=0.2) as fake:
        report = tmp_path / "report.json"
        code, out, _ = await cli(
            *fast(fake), "batch", str(jobs), "--out", str(tmp_path / "out"), "--report", str(report)
        )
    assert code == 1
    assert "line 3:" in out and "duration" in out and "line 4:" in out and "prompt" in out
    rows = {r["line"]: r for r in json.loads(report.read_text())}
    assert rows[2]["state"] == "downloaded" and rows[5]["state"] == "downloaded"
    assert rows[3]["state"] == rows[4]["state"] == "invalid"
    assert (tmp_path / "out" / "fox.mp4").exists() and (tmp_path / "out" / "job-00005.mp4").exists()
    assert fake.post_count == 2


async def test_batch_survives_sigkill_and_resumes_without_paying_twice(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        "".join(json.dumps({"prompt": f"clip {i}", "resolution": "480p"}) + "\n" for i in range(6))
    )
    out_dir = tmp_path / "videos"
    async with FakeSeedanceServer(processing_time=3.0) as fake:
        args = [*fast(fake), "batch", str(jobs), "--concurrency", "3", "--out", str(out_dir)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "seedance_async", *args,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "AIMLAPI_API_KEY": KEY},
        )  # fmt: skip
        for _ in range(200):  # until the first three jobs are created and running
            if fake.post_count >= 3:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # their ids reach the journal
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        assert fake.post_count == 3
        code, out, err = await cli(*args, timeout=90)
        assert code == 0, out + err
        assert fake.post_count == 6
        assert sorted(j.body["prompt"] for j in fake.jobs.values()) == [
            f"clip {i}" for i in range(6)
        ]
    videos = sorted(out_dir.glob("*.mp4"))
    assert len(videos) == 6 and all(v.stat().st_size > 0 for v in videos)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_ctrl_c_keeps_the_journal_and_prints_the_resume_command(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"prompt": "long one"}) + "\n")
    async with FakeSeedanceServer(processing_time=30) as fake:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "seedance_async", *fast(fake),
            "batch", str(jobs), "--out", str(tmp_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "AIMLAPI_API_KEY": KEY},
        )  # fmt: skip
        for _ in range(200):
            if fake.post_count:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert "Resume with" in err.decode() and "batch" in err.decode()
    assert (tmp_path / "jobs.jsonl.journal.sqlite").exists()


async def test_fake_server_command_serves_until_stopped() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "seedance_async",
        "fake-server", "--port", "0", "--processing-time", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        import seedance_async as sa

        async with sa.SeedanceClient(KEY, base_url=url) as client:
            gen = await client.submit(sa.VideoRequest(prompt="served"))
            assert (await client.retrieve(gen.id)).is_completed
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0
