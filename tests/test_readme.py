"""Every code block of the README runs, against the fake server, so the docs cannot drift."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from seedance_async.testing import FakeSeedanceServer
from seedance_async.testing.images import png_bytes

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.DOTALL)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
BASH = [code for lang, code in BLOCKS if lang == "bash"]


def test_the_readme_has_the_blocks_this_test_knows() -> None:
    assert {lang for lang, _ in BLOCKS} == {"python", "bash"}
    assert len(PYTHON) == 5 and len(BASH) == 3


BOOTSTRAP = """
import functools, sys
import seedance_async as sa, seedance_async._client as client
# the fake server is fast: compress the default poll schedule to match
client.PollPolicy = functools.partial(sa.PollPolicy, time_scale=0.01, max_polls_per_second=1000)
source = open(sys.argv[1]).read()
exec(compile(source, "README block", "exec"), {"__name__": "__main__"})
"""


@pytest.mark.parametrize("index", range(len(PYTHON)))
async def test_python_block_runs(index: int, tmp_path: Path) -> None:
    block = tmp_path / "block.py"
    block.write_text(PYTHON[index])
    async with FakeSeedanceServer(processing_time=0.3) as fake:
        env = {**_env(fake), "PYTHONPATH": str(ROOT)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", BOOTSTRAP, str(block), cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, err.decode()
        assert "sk-readme" not in out.decode() + err.decode()
        calls_api = "generate(" in PYTHON[index] or "submit(" in PYTHON[index]
        if calls_api and "FakeSeedanceServer(" not in PYTHON[index]:
            assert fake.post_count >= 1


def test_the_test_command_is_what_ci_runs() -> None:
    command = BASH[1].strip()
    assert command.endswith("pip install -e '.[dev]' && pytest -q")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[dev]'" in ci and "python -m pytest -q" in ci


def _env(fake: FakeSeedanceServer) -> dict[str, str]:
    return {**os.environ, "AIMLAPI_API_KEY": "sk-readme", "SEEDANCE_BASE_URL": fake.url}


def _run(line: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    args = shlex.split(line)
    assert args[0] == "seedance-async"
    args = [sys.executable, "-m", "seedance_async", "--poll-time-scale", "0.01", *args[1:]]
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


async def test_the_demo_command(tmp_path: Path) -> None:
    line = BASH[0].strip().split("&&")[-1].strip()
    assert line == "seedance-async demo"
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "seedance_async", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "AIMLAPI_API_KEY"},
    )
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "seedance-demo").glob("*.mp4"))) == 6


async def test_the_cli_block(tmp_path: Path) -> None:
    (tmp_path / "first-frame.png").write_bytes(png_bytes(960, 540))
    (tmp_path / "jobs.jsonl").write_text(
        json.dumps({"prompt": "a fox", "resolution": "480p"}) + "\n"
    )
    async with FakeSeedanceServer(processing_time=0.3) as fake:
        env = _env(fake)
        for line in BASH[2].strip().splitlines():
            for command in (part.strip() for part in line.split(";")):
                if command.endswith(("fake-server --port 8765", "demo")):
                    continue  # a server that runs until stopped; the demo has its own test
                if " ID" in command:
                    command = command.replace(" ID", " " + next(iter(fake.jobs)))
                proc = await asyncio.to_thread(_run, command, env, tmp_path)
                assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
    assert (tmp_path / "boat.mp4").exists() and (tmp_path / "out.mp4").exists()
    assert json.loads((tmp_path / "report.json").read_text())[0]["state"] == "downloaded"
