"""What each Seedance model accepts, in one table.

The vendor has changed parameter names and ranges several times; update ``MODELS`` when
it does. A model missing from the table is allowed and validated generically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

import attrs

ImageRule = Literal["required", "optional", "none"]

RESOLUTIONS: Final = ("480p", "720p", "1080p")
SEED_MIN: Final = -1
SEED_MAX: Final = 2**32 - 1

# Published processing times scale roughly like this with resolution (56 s vs 38 s).
RESOLUTION_TIME_FACTOR: Final[Mapping[str, float]] = {"480p": 38 / 56, "720p": 0.8, "1080p": 1.0}
UNKNOWN_MODEL_SECONDS: Final = 60.0


@attrs.frozen
class ModelSpec:
    """One model's accepted inputs and its published processing time."""

    name: str
    image: ImageRule
    last_image: bool
    resolutions: tuple[str, ...]
    default_resolution: str
    durations: tuple[int, ...]
    options: frozenset[str]
    """Optional fields of ``VideoRequest`` this model takes (besides images)."""
    expected_seconds: float
    """Published time of a 5-second clip at 1080p."""
    wire_names: Mapping[str, str] = attrs.field(factory=dict)
    """Where the wire name differs from the ``VideoRequest`` field name."""


_V1_OPTIONS = frozenset({"watermark", "seed", "camerafixed"})

MODELS: Final[Mapping[str, ModelSpec]] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "bytedance/seedance-1-0-pro-i2v", "optional", True, RESOLUTIONS, "1080p",
            (5, 10), _V1_OPTIONS, 56.0,
        ),
        ModelSpec(
            "bytedance/seedance-1-0-pro-t2v", "optional", False, RESOLUTIONS, "1080p",
            (5, 10), _V1_OPTIONS, 60.0,
        ),
        ModelSpec(
            "bytedance/seedance-1-0-lite-i2v", "required", False, RESOLUTIONS, "1080p",
            (5, 10), _V1_OPTIONS, 90.0,
        ),
        ModelSpec(
            "bytedance/seedance-1-0-lite-t2v", "none", False, RESOLUTIONS, "1080p",
            (5, 10), frozenset({"watermark", "seed"}), 36.0,
        ),
        ModelSpec(
            "bytedance/seedance-1-0-pro-fast", "optional", True, RESOLUTIONS, "1080p",
            (5, 10), _V1_OPTIONS, 34.0,
        ),
        ModelSpec(
            "bytedance/seedance-1-5-pro", "optional", True, RESOLUTIONS, "720p",
            tuple(range(4, 13)), _V1_OPTIONS, 210.0 / 0.8,
            wire_names={"camerafixed": "camera_fixed"},
        ),
    )
}  # fmt: skip


def spec_for(model: str) -> ModelSpec | None:
    return MODELS.get(model)


def expected_seconds(model: str, resolution: str, duration: int) -> float:
    """The prior: the vendor's published time for this kind of job."""
    spec = MODELS.get(model)
    base = spec.expected_seconds if spec else UNKNOWN_MODEL_SECONDS
    return base * RESOLUTION_TIME_FACTOR.get(resolution, 1.0) * max(duration, 1) / 5
