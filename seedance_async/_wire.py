"""The converter: the only module that knows the wire format.

Wire names, status vocabulary, error-body shapes and usage fields live here. Answers
are read tolerantly: unknown keys are ignored, unknown status words become
``GenerationStatus.UNKNOWN`` (still pending), never a crash.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from . import _catalog

if TYPE_CHECKING:
    import cattrs
from ._errors import APIConnectionError
from ._models import Generation, GenerationError, GenerationStatus, VideoRequest

CREATE_PATH: Final = "/v2/video/generations"
LEGACY_PATH: Final = "/v2/generate/video/bytedance/generation"

# Compared case-insensitively; see FACTS.md "Status vocabulary".
STATUS_WORDS: Final[Mapping[str, GenerationStatus]] = {
    "queued": GenerationStatus.QUEUED,
    "waiting": GenerationStatus.QUEUED,
    "pending": GenerationStatus.QUEUED,
    "generating": GenerationStatus.GENERATING,
    "active": GenerationStatus.GENERATING,
    "processing": GenerationStatus.GENERATING,
    "running": GenerationStatus.GENERATING,
    "in_progress": GenerationStatus.GENERATING,
    "completed": GenerationStatus.COMPLETED,
    "succeeded": GenerationStatus.COMPLETED,
    "success": GenerationStatus.COMPLETED,
    "error": GenerationStatus.ERROR,
    "failed": GenerationStatus.ERROR,
    "cancelled": GenerationStatus.ERROR,
    "canceled": GenerationStatus.ERROR,
    "expired": GenerationStatus.ERROR,
}


def parse_status(word: object) -> GenerationStatus:
    if not isinstance(word, str):
        return GenerationStatus.UNKNOWN
    return STATUS_WORDS.get(word.strip().lower(), GenerationStatus.UNKNOWN)


@functools.cache
def converter() -> cattrs.Converter:
    """The converter, built on first use (importing cattrs costs ~10 ms at startup)."""
    import cattrs

    made = cattrs.Converter()
    made.register_structure_hook(Generation, _structure_generation)
    return made


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _credits(payload: Mapping[str, Any]) -> float | None:
    meta = payload.get("meta")
    usage = meta.get("usage") if isinstance(meta, Mapping) else None
    if not isinstance(usage, Mapping):
        return None
    for key in ("credits_used", "tokens_used"):
        found = _number(usage.get(key))
        if found is not None:
            return found
    return None


def _failure(payload: Mapping[str, Any]) -> GenerationError | None:
    err = payload.get("error")
    if err is None or err == {}:
        return None
    if isinstance(err, str):
        return GenerationError(name="error", message=err)
    if isinstance(err, Mapping):
        name = err.get("name") or err.get("type") or err.get("code") or "error"
        message = error_message(err) or json.dumps(err, default=str)[:500]
        return GenerationError(name=str(name), message=message)
    return GenerationError(name="error", message=str(err)[:500])


def _raw_word(value: object) -> str:
    return "" if value is None else json.dumps(value, default=str)[:100]


def _structure_generation(payload: Any, _: type) -> Generation:
    if not isinstance(payload, Mapping):
        raise APIConnectionError(f"expected a JSON object, got {type(payload).__name__}")
    gen_id = payload.get("id", payload.get("generation_id"))
    if not isinstance(gen_id, str | int) or isinstance(gen_id, bool) or str(gen_id) == "":
        raise APIConnectionError("the answer carries no generation id")
    raw_status = payload.get("status")
    status = parse_status(raw_status)
    video = payload.get("video")
    video_url: str | None = None
    if isinstance(video, Mapping) and isinstance(video.get("url"), str):
        video_url = video["url"]
    elif isinstance(video, list) and video and isinstance(video[0], Mapping):
        url = video[0].get("url")
        video_url = url if isinstance(url, str) else None
    if video_url is not None and not video_url.lower().startswith(("http://", "https://")):
        video_url = None
    error = _failure(payload)
    if status is GenerationStatus.ERROR and error is None:
        error = GenerationError(name=str(raw_status), message=f"generation {raw_status}")
    return Generation(
        id=str(gen_id),
        status=status,
        raw_status=raw_status if isinstance(raw_status, str) else _raw_word(raw_status),
        video_url=video_url,
        error=error,
        credits_used=_credits(payload),
        raw=payload,
    )


def parse_generation(payload: Any) -> Generation:
    """A ``Generation`` from a decoded JSON answer (``APIConnectionError`` if unusable)."""
    return converter().structure(payload, Generation)


def request_body(
    req: VideoRequest, image_url: str | None, last_image_url: str | None
) -> dict[str, Any]:
    """The JSON body of the create call; ``None`` fields are left out."""
    spec = _catalog.spec_for(req.model)
    names = spec.wire_names if spec else {}
    body: dict[str, Any] = {
        "model": req.model,
        "prompt": req.prompt,
        "image_url": image_url,
        "last_image_url": last_image_url,
        "resolution": req.resolution,
        "duration": req.duration,
        "seed": req.seed,
        "camerafixed": req.camerafixed,
        "watermark": req.watermark,
    }
    wire = {names.get(k, k): v for k, v in body.items() if v is not None}
    wire.update(req.extra)
    return wire


_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.DOTALL | re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def _join(messages: list[str]) -> str | None:
    found = [m for m in messages if m]
    return "; ".join(found) if found else None


def _detail_messages(detail: object) -> str | None:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, Mapping):
                msg = item.get("msg") or item.get("message")
                loc = item.get("loc")
                where = ".".join(map(str, loc)) if isinstance(loc, list) else None
                if msg:
                    parts.append(f"{where}: {msg}" if where else str(msg))
            elif isinstance(item, str):
                parts.append(item)
        return _join(parts)
    return None


def error_message(body: object) -> str | None:
    """The human message in any error-body shape the API is known to send."""
    if not isinstance(body, Mapping):
        return None
    message = body.get("message")
    if isinstance(message, list):
        message = _join([str(m) for m in message])
    details = _detail_messages(body.get("detail"))
    err = body.get("error")
    nested = None
    if isinstance(err, Mapping):
        nested = error_message(err)
    elif isinstance(err, str):
        nested = err
    for found in (message, nested, details, body.get("title"), body.get("msg")):
        if isinstance(found, str) and found.strip():
            extra = details if details and details != found else None
            return f"{found} ({extra})" if extra else found
    return None


def text_message(text: str, limit: int = 300) -> str:
    """A short readable message from a non-JSON body (HTML gateway pages included)."""
    if "<" in text and ">" in text:
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.DOTALL | re.IGNORECASE)
        text = title.group(1) if title else _TAGS.sub(" ", text)
        text = html.unescape(text)
    text = _SPACE.sub(" ", text).strip()
    return text[:limit] + ("..." if len(text) > limit else "")


def request_id(body: object, headers: Mapping[str, str]) -> str | None:
    if isinstance(body, Mapping):
        for key in ("requestId", "request_id"):
            value = body.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
    for header in ("x-request-id", "request-id", "x-amzn-requestid", "cf-ray"):
        value = headers.get(header)
        if value:
            return value
    return None
