"""VideoRequest validation: every bad input fails before any traffic, naming the field."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

import seedance_async as sa
from seedance_async import _images, _wire
from seedance_async.testing import FakeSeedanceServer
from seedance_async.testing import images as img

from .conftest import KEY, req


def _bad_cases(tmp_path: Path) -> list[tuple[str, dict[str, Any]]]:
    small = tmp_path / "small.png"
    small.write_bytes(img.png_bytes(200, 200))
    wide = tmp_path / "wide.png"
    wide.write_bytes(img.png_bytes(1500, 500))
    big = tmp_path / "big.png"
    big.write_bytes(img.png_bytes(640, 480, noise_bytes=40 * 1024 * 1024))
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    return [
        ("prompt", {"prompt": "   "}),
        ("prompt", {"prompt": ""}),
        ("prompt", {"prompt": 42}),
        ("resolution", {"resolution": "4k"}),
        ("resolution", {"resolution": 1080}),
        ("duration", {"duration": 7}),
        ("duration", {"duration": "abc"}),
        ("duration", {"duration": 5.5}),
        ("duration", {"duration": True}),
        ("seed", {"seed": 2**32}),
        ("seed", {"seed": -2}),
        ("seed", {"seed": "42"}),
        ("image_url", {"image_url": "cat.png"}),
        ("image_url", {"image_url": "/etc/passwd"}),
        ("image_url", {"image_url": "ftp://example.com/cat.png"}),
        ("image_url", {"image_url": "https://"}),
        ("image_url", {"image_url": "data:text/plain;base64,aGk="}),
        ("image_url", {"image_url": tmp_path / "missing.png"}),
        ("image_url", {"image_url": b"definitely not an image"}),
        ("image_url", {"image_url": text}),
        ("image_url", {"image_url": big}),
        ("image_url", {"image_url": small}),
        ("image_url", {"image_url": img.png_bytes(200, 200)}),
        ("image_url", {"image_url": wide}),
        ("image_url", {"image_url": img.gif_bytes(6000, 1000)}),
        ("image_url", {"image_url": 12345}),
        ("last_image_url", {"last_image_url": "last.png"}),
        ("last_image_url", {"last_image_url": img.jpeg_bytes(100, 100)}),
        ("camerafixed", {"camerafixed": "yes"}),
        ("watermark", {"watermark": 1}),
        ("model", {"model": ""}),
        ("extra", {"extra": {"prompt": "sneaky"}}),
        (
            "last_image_url",
            {"model": "bytedance/seedance-1-0-lite-i2v", "last_image_url": "https://e.com/a.png"},
        ),
        ("image_url", {"model": "bytedance/seedance-1-0-lite-i2v", "image_url": None}),
        (
            "camerafixed",
            {"model": "bytedance/seedance-1-0-lite-t2v", "image_url": None, "camerafixed": True},
        ),
    ]


async def test_bad_inputs_raise_before_any_traffic(tmp_path: Path) -> None:
    cases = _bad_cases(tmp_path)
    assert len(cases) >= 15
    async with FakeSeedanceServer() as fake:
        for field, kwargs in cases:
            kwargs = {"prompt": "a cat", "image_url": "https://example.com/a.jpg", **kwargs}
            with pytest.raises(sa.InvalidRequestError) as info:
                sa.VideoRequest(**kwargs)
            assert info.value.field == field, (kwargs, info.value)
            assert field in str(info.value)
            assert isinstance(info.value, ValueError)
            assert isinstance(info.value, sa.SeedanceError)
        assert fake.requests == []


def test_messages_name_allowed_values() -> None:
    with pytest.raises(sa.InvalidRequestError, match="480p, 720p, 1080p"):
        req(resolution="4k")
    with pytest.raises(sa.InvalidRequestError, match="5, 10"):
        req(duration=7)
    with pytest.raises(sa.InvalidRequestError, match=r"pathlib\.Path"):
        req(image_url="cat.png")


def test_defaults_and_digit_string_duration() -> None:
    r = sa.VideoRequest(prompt="a cat", duration="10")  # type: ignore[arg-type]
    assert r.duration == 10
    assert r.resolution == "1080p"
    assert r.model == "bytedance/seedance-1-0-pro-i2v"
    assert sa.VideoRequest(prompt="x", model="bytedance/seedance-1-5-pro").resolution == "720p"
    body = _wire.request_body(r, None, None)
    assert body == {
        "model": "bytedance/seedance-1-0-pro-i2v",
        "prompt": "a cat",
        "resolution": "1080p",
        "duration": 10,
    }


def test_wire_names_and_extra_follow_the_model_table() -> None:
    r = sa.VideoRequest(
        prompt="x",
        model="bytedance/seedance-1-5-pro",
        camerafixed=True,
        duration=12,
        extra={"generate_audio": True, "aspect_ratio": "adaptive"},
    )
    body = _wire.request_body(r, "https://e.com/a.png", None)
    assert body["camera_fixed"] is True and "camerafixed" not in body
    assert body["generate_audio"] is True and body["aspect_ratio"] == "adaptive"
    assert body["duration"] == 12


def test_unknown_model_is_validated_generically() -> None:
    r = sa.VideoRequest(
        prompt="x", model="bytedance/seedance-9-ultra", resolution="1440p", duration=7
    )
    assert (r.resolution, r.duration) == ("1440p", 7)
    with pytest.raises(sa.InvalidRequestError):
        sa.VideoRequest(prompt="x", model="bytedance/seedance-9-ultra", resolution="huge")


@pytest.mark.parametrize(
    ("maker", "fmt"),
    [
        (img.png_bytes, "png"),
        (img.jpeg_bytes, "jpeg"),
        (img.gif_bytes, "gif"),
        (img.bmp_bytes, "bmp"),
        (img.webp_bytes, "webp"),
        (img.tiff_bytes, "tiff"),
    ],
)
def test_every_format_is_sniffed_and_measured(maker: Any, fmt: str) -> None:
    data = maker(800, 600)
    assert _images.sniff_format(data) == fmt
    assert _images.dimensions(fmt, data) == (800, 600)
    url = _images.encode("image_url", data)
    assert url.startswith(f"data:image/{fmt};base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == data
    with pytest.raises(sa.InvalidRequestError, match="between"):
        sa.VideoRequest(prompt="x", image_url=maker(800, 250))


def test_url_forms_pass_unchanged() -> None:
    data_url = "data:image/png;base64,iVBORw0KGgo="
    assert req(image_url=data_url).image_url == data_url
    assert req(image_url="HTTPS://Example.com/a.jpg").image_url == "HTTPS://Example.com/a.jpg"


async def test_path_and_bytes_are_sent_as_data_urls(
    fake: FakeSeedanceServer, tmp_path: Path
) -> None:
    png = img.png_bytes(640, 480)
    path = tmp_path / "first.png"
    path.write_bytes(png)
    async with sa.SeedanceClient(KEY, base_url=fake.url) as client:
        await client.submit(
            sa.VideoRequest(prompt="x", image_url=path, last_image_url=img.jpeg_bytes())
        )
    body = fake.api_requests("POST")[0].json
    assert body["image_url"] == "data:image/png;base64," + base64.b64encode(png).decode()
    assert body["last_image_url"].startswith("data:image/jpeg;base64,")


async def test_file_removed_after_construction_fails_at_submit_without_traffic(
    fake: FakeSeedanceServer, tmp_path: Path
) -> None:
    path = tmp_path / "gone.png"
    path.write_bytes(img.png_bytes())
    request = sa.VideoRequest(prompt="x", image_url=path)
    path.unlink()
    async with sa.SeedanceClient(KEY, base_url=fake.url) as client:
        with pytest.raises(sa.InvalidRequestError, match="image_url"):
            await client.submit(request)
        assert client.in_flight == 0
    assert fake.requests == []
