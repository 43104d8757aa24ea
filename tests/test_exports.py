"""The public face: __all__ is complete and sorted, every error is a SeedanceError."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import seedance_async as sa


def test_all_is_sorted_and_complete() -> None:
    assert sa.__all__ == sorted(sa.__all__)
    public = {
        name
        for name, value in vars(sa).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").startswith("seedance_async")
    }
    assert public <= set(sa.__all__)
    for name in sa.__all__:
        assert getattr(sa, name) is not None


def test_every_exception_is_documented_and_a_seedance_error() -> None:
    for name in sa.__all__:
        value = getattr(sa, name)
        if inspect.isclass(value) and issubclass(value, BaseException):
            assert issubclass(value, sa.SeedanceError), name
            assert value.__doc__, name
    assert issubclass(sa.APITimeoutError, TimeoutError)
    assert issubclass(sa.GenerationTimeout, TimeoutError)
    assert issubclass(sa.InvalidRequestError, ValueError)


def test_version_comes_from_package_metadata() -> None:
    assert isinstance(sa.__version__, str) and sa.__version__[0].isdigit()


def test_importing_the_package_loads_neither_sqlite_nor_cattrs() -> None:
    code = "import sys, seedance_async; print('sqlite3' in sys.modules, 'cattrs' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_public_typing_file_is_type_checked_by_ci() -> None:
    assert (Path(__file__).parent / "typing" / "api.py").exists()
