"""Reading a batch JOBS file (JSON Lines or CSV), one request a line, lazily.

Columns are ``VideoRequest`` fields, plus ``image_path``/``last_image_path`` for local
files (relative to the JOBS file), ``extra`` (a JSON object), ``key`` and ``output``.
A bad line becomes a ``BadLine`` with its number; the other lines still run.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import attrs

from ._errors import InvalidRequestError
from ._models import VideoRequest

_REQUEST_FIELDS: Final = frozenset(
    {
        "prompt",
        "image_url",
        "last_image_url",
        "resolution",
        "duration",
        "seed",
        "camerafixed",
        "watermark",
        "model",
        "extra",
        "key",
    }
)
_PATH_FIELDS: Final = {"image_path": "image_url", "last_image_path": "last_image_url"}
_ALLOWED: Final = _REQUEST_FIELDS | set(_PATH_FIELDS) | {"output"}


@attrs.frozen
class JobLine:
    line: int
    request: VideoRequest
    output: str | None


@attrs.frozen
class BadLine:
    line: int
    message: str


def _csv_value(name: str, text: str) -> Any:
    text = text.strip()
    if text == "":
        return None
    if name in ("camerafixed", "watermark"):
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        return text
    if name == "seed":
        try:
            return int(text)
        except ValueError:
            return text
    if name == "extra":
        return json.loads(text)
    return text


def _build(fields: dict[str, Any], base: Path, line: int) -> JobLine | BadLine:
    unknown = sorted(set(fields) - _ALLOWED)
    if unknown:
        return BadLine(
            line,
            f"unknown column(s) {', '.join(unknown)}; "
            "put parameters the library does not model under 'extra'",
        )
    kwargs = {k: v for k, v in fields.items() if k in _REQUEST_FIELDS and v is not None}
    for path_field, url_field in _PATH_FIELDS.items():
        if fields.get(path_field):
            if fields.get(url_field):
                return BadLine(line, f"give {path_field} or {url_field}, not both")
            kwargs[url_field] = (base / str(fields[path_field])).resolve()
    if "key" in kwargs:
        kwargs["key"] = str(kwargs["key"])
    try:
        request = VideoRequest(**kwargs)
    except InvalidRequestError as exc:
        return BadLine(line, str(exc))
    except TypeError as exc:
        return BadLine(line, str(exc))
    output = fields.get("output")
    return JobLine(line, request, str(output) if output else None)


def read_jobs(path: Path) -> Iterator[JobLine | BadLine]:
    """Each line of a JOBS file as a request or a bad line, read lazily."""
    base = path.parent
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            for row in reader:
                line = reader.line_num
                try:
                    fields = {
                        k.strip(): _csv_value(k.strip(), v or "") for k, v in row.items() if k
                    }
                except ValueError as exc:
                    yield BadLine(line, f"extra: not valid JSON ({exc})")
                    continue
                yield _build(fields, base, line)
        return
    with path.open(encoding="utf-8") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            try:
                fields = json.loads(text)
            except ValueError as exc:
                yield BadLine(number, f"not valid JSON ({exc})")
                continue
            if not isinstance(fields, dict):
                yield BadLine(number, "each line must be a JSON object")
                continue
            yield _build(fields, base, number)


def count_jobs(path: Path) -> int:
    """How many job lines the file has (for progress totals)."""
    with path.open(encoding="utf-8") as f:
        lines = sum(1 for text in f if text.strip() and not text.lstrip().startswith("#"))
    return max(lines - 1, 0) if path.suffix.lower() == ".csv" else lines
