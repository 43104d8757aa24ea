"""Test helpers for users of seedance_async: the fake API server and a fake clock.

``FakeSeedanceServer`` is a real aiohttp.web application on a loopback port; point a
``SeedanceClient`` at ``fake.url``. Pytest fixtures live in
``seedance_async.testing.pytest_plugin`` (add it to ``pytest_plugins``).
"""

from __future__ import annotations

from ._clock import FakeClock
from ._fake import FakeSeedanceServer
from ._records import FakeJob, Faults, RecordedRequest

__all__ = ["FakeClock", "FakeJob", "FakeSeedanceServer", "Faults", "RecordedRequest"]
