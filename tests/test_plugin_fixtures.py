"""How users test their own code: the fixtures of seedance_async.testing.pytest_plugin.

In your conftest.py: ``pytest_plugins = ["seedance_async.testing.pytest_plugin"]``.
"""

from __future__ import annotations

import seedance_async as sa
from seedance_async.testing import FakeSeedanceServer


async def make_trailer(client: sa.SeedanceClient, prompt: str) -> str:
    """Code under test: a user's function that generates one video."""
    gen = await client.generate(sa.VideoRequest(prompt=prompt, resolution="480p"), timeout=60)
    assert gen.video_url is not None
    return gen.video_url


async def test_users_code_against_the_fixtures(
    seedance_fake: FakeSeedanceServer, seedance_client: sa.SeedanceClient
) -> None:
    url = await make_trailer(seedance_client, "a trailer")
    assert url.startswith("http://localhost")
    assert seedance_fake.post_count == 1
    (job,) = seedance_fake.jobs.values()
    assert job.body["prompt"] == "a trailer"


async def test_users_error_handling_with_scripted_failures(
    seedance_fake: FakeSeedanceServer, seedance_client: sa.SeedanceClient
) -> None:
    seedance_fake.script("banned", fail=True, status="failed", error_shape="detail")
    try:
        await make_trailer(seedance_client, "a banned trailer")
    except sa.GenerationFailed as exc:
        assert exc.generation.error is not None
        assert "rejected" in exc.generation.error.message
    else:
        raise AssertionError("expected GenerationFailed")
