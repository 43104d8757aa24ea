"""The values users hold: requests, generations, outcomes. Pure Python, no wire names."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import yarl

from . import _catalog, _images
from ._config import DEFAULT_MODEL
from ._errors import InvalidRequestError

ImageInput = str | Path | bytes
"""An ``http(s)://`` URL, a ``data:image/...`` URL, a ``pathlib.Path``, or raw bytes."""


class GenerationStatus(enum.StrEnum):
    """Where a job is. The vendor's many words are folded into these; ``raw_status`` keeps
    the word itself."""

    QUEUED = "queued"
    GENERATING = "generating"
    COMPLETED = "completed"
    ERROR = "error"
    UNKNOWN = "unknown"
    """A word the library does not know yet: treated as still pending."""

    @property
    def is_terminal(self) -> bool:
        """True once the job can change no more."""
        return self in (GenerationStatus.COMPLETED, GenerationStatus.ERROR)


@attrs.frozen
class GenerationError:
    """Why a job failed, as the API put it."""

    name: str
    message: str


@attrs.frozen
class Generation:
    """One video generation job as last seen."""

    id: str
    """The generation id: keep it, it is the only way to collect a paid job."""
    status: GenerationStatus
    raw_status: str
    """The status word exactly as the API sent it."""
    video_url: str | None = None
    """Signed download URL, present once completed; it expires after about 24 hours."""
    error: GenerationError | None = None
    credits_used: float | None = None
    """Credits charged, when the API reports them (2,000,000 credits = $1)."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False, hash=False)
    """The whole payload, for anything not modelled."""

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def is_completed(self) -> bool:
        return self.status is GenerationStatus.COMPLETED

    @property
    def is_failed(self) -> bool:
        return self.status is GenerationStatus.ERROR


def _check_image_input(field: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, str):
        lowered = value[:12].lower()
        if lowered.startswith(("http://", "https://")):
            try:
                url = yarl.URL(value)
            except ValueError:
                url = None
            if url is None or not url.host:
                raise InvalidRequestError(field, f"not a valid URL: {value[:80]!r}")
            return
        if lowered.startswith("data:"):
            m = _images.DATA_URL_RE.match(value)
            if m is None:
                raise InvalidRequestError(
                    field, "a data URL must look like data:image/<format>;base64,<data>"
                )
            fmt = m.group(1).lower()
            if fmt not in (*_images.FORMATS, "jpg"):
                raise InvalidRequestError(
                    field,
                    f"data URL image format {fmt!r} is not one of {', '.join(_images.FORMATS)}",
                )
            return
        raise InvalidRequestError(
            field,
            f"{value[:80]!r} is neither an http(s):// URL nor a data:image/... URL. "
            "Strings are never read as file paths: pass a pathlib.Path (or bytes) "
            "to upload a local image",
        )
    if isinstance(value, Path):
        _images.peek_file(field, value)
        return
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        _images.check_image(field, data[: _images.HEADER_BYTES], len(data))
        return
    raise InvalidRequestError(
        field,
        f"expected an http(s):// URL, a data:image URL, a pathlib.Path or bytes, "
        f"not {type(value).__name__}",
    )


def _opt_bool(field: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise InvalidRequestError(field, f"must be true or false, not {value!r}")


_DIGITS = re.compile(r"^\s*\d{1,3}\s*$")
_RESOLUTION = re.compile(r"^\d{3,4}p$")


def _convert_image(value: object) -> object:
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value


@attrs.frozen
class VideoRequest:
    """One video to generate, validated when it is built (``InvalidRequestError``).

    Images are ``http(s)://`` or ``data:image/...`` URLs, a ``pathlib.Path``, or raw
    ``bytes``; a plain string is never read as a file path. A ``Path`` is checked when
    the request is built (its size, and its header: format and dimensions); it is read
    in full, off the event loop, only when the request is submitted.
    """

    prompt: str
    """What should happen in the video."""
    image_url: ImageInput | None = attrs.field(default=None, converter=_convert_image)
    """The first frame."""
    resolution: str = attrs.field(default=None)
    """480p, 720p or 1080p; the model's default when not given."""
    duration: int = attrs.field(default=None)
    """Seconds of video (5 or 10 for the 1.0 models); ``"5"`` is accepted."""
    seed: int | None = None
    """-1 .. 2**32-1; the same seed and inputs give similar results."""
    camerafixed: bool | None = None
    """Ask the model to keep the camera still."""
    watermark: bool | None = None
    last_image_url: ImageInput | None = attrs.field(default=None, converter=_convert_image)
    """The last frame (models that take one)."""
    model: str = DEFAULT_MODEL
    extra: Mapping[str, Any] = attrs.field(factory=dict, hash=False, converter=dict)
    """Parameters the library does not model yet, sent as they are."""
    key: str | None = attrs.field(default=None, eq=False, hash=False)
    """Your own name for this job (journals and reports use it); never sent."""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidRequestError("model", "must be a non-empty string")
        spec = _catalog.spec_for(self.model)
        if not isinstance(self.prompt, str):
            raise InvalidRequestError(
                "prompt", f"must be a string, not {type(self.prompt).__name__}"
            )
        if not self.prompt.strip():
            raise InvalidRequestError("prompt", "must not be blank")
        object.__setattr__(self, "resolution", self._check_resolution(spec))
        object.__setattr__(self, "duration", self._check_duration(spec))
        if self.seed is not None and (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int)
            or not _catalog.SEED_MIN <= self.seed <= _catalog.SEED_MAX
        ):
            raise InvalidRequestError(
                "seed", f"must be an integer from {_catalog.SEED_MIN} to {_catalog.SEED_MAX}"
            )
        _opt_bool("camerafixed", self.camerafixed)
        _opt_bool("watermark", self.watermark)
        _check_image_input("image_url", self.image_url)
        _check_image_input("last_image_url", self.last_image_url)
        if spec is not None:
            self._check_against(spec)
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))
        for name in self.extra:
            if not isinstance(name, str):
                raise InvalidRequestError("extra", f"keys must be strings, not {name!r}")
            if name in _RESERVED:
                raise InvalidRequestError(
                    "extra", f"{name!r} is a field of VideoRequest: set it directly"
                )

    def _check_resolution(self, spec: _catalog.ModelSpec | None) -> str:
        value = self.resolution
        if value is None:
            return spec.default_resolution if spec else "1080p"
        allowed = spec.resolutions if spec else _catalog.RESOLUTIONS
        if not isinstance(value, str) or (
            value not in allowed and (spec is not None or not _RESOLUTION.match(value))
        ):
            raise InvalidRequestError(
                "resolution", f"{value!r} is not one of: {', '.join(allowed)}"
            )
        return value

    def _check_duration(self, spec: _catalog.ModelSpec | None) -> int:
        value: object = self.duration
        allowed = spec.durations if spec else None
        if value is None:
            return 5 if allowed is None or 5 in allowed else allowed[0]
        if isinstance(value, str) and _DIGITS.match(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            shown = ", ".join(map(str, allowed)) if allowed else "a whole number of seconds"
            raise InvalidRequestError("duration", f"{value!r} is not one of: {shown}")
        if allowed is not None and value not in allowed:
            raise InvalidRequestError(
                "duration", f"{value} is not one of: {', '.join(map(str, allowed))}"
            )
        if not 1 <= value <= 60:
            raise InvalidRequestError("duration", f"{value} must be from 1 to 60 seconds")
        return value

    def _check_against(self, spec: _catalog.ModelSpec) -> None:
        if spec.image == "required" and self.image_url is None:
            raise InvalidRequestError("image_url", f"required by {spec.name}")
        if spec.image == "none" and self.image_url is not None:
            raise InvalidRequestError("image_url", f"{spec.name} takes no image")
        if not spec.last_image and self.last_image_url is not None:
            raise InvalidRequestError("last_image_url", f"{spec.name} takes no last frame")
        for option in ("seed", "camerafixed", "watermark"):
            if getattr(self, option) is not None and option not in spec.options:
                raise InvalidRequestError(option, f"not supported by {spec.name}")


_RESERVED = frozenset(f.name for f in attrs.fields(VideoRequest)) - {"extra", "key"}


@attrs.frozen
class JobOutcome:
    """How one job of ``generate_many`` ended: ``generation`` or ``error`` is set."""

    index: int
    """Position of the request in the input."""
    request: VideoRequest | None
    generation: Generation | None = None
    """The finished (COMPLETED) generation, when it succeeded."""
    error: BaseException | None = attrs.field(default=None, eq=False)
    """What went wrong: ``GenerationFailed``, ``GenerationTimeout``,
    ``SubmissionUncertainError``, an ``APIError``, ``BudgetExceededError``..."""
    generation_id: str | None = None
    """The id, whenever a job was created, even if it then failed or timed out."""
    key: str | None = None
    """The job's journal key, when a journal was used."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.generation is not None


@attrs.define
class Usage:
    """What this client has done and spent, from what responses report."""

    submitted: int = 0
    completed: int = 0
    failed: int = 0
    uncertain: int = 0
    credits_used: float = 0.0
    polls: int = 0
    retries: int = 0

    @property
    def usd_spent(self) -> float:
        return self.credits_used / 2_000_000
