"""The converter: every status word and error shape of FACTS.md maps correctly."""

from __future__ import annotations

from typing import Any

import pytest

import seedance_async as sa
from seedance_async import _http, _wire

S = sa.GenerationStatus


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("queued", S.QUEUED),
        ("waiting", S.QUEUED),
        ("generating", S.GENERATING),
        ("active", S.GENERATING),
        ("processing", S.GENERATING),
        ("running", S.GENERATING),
        ("completed", S.COMPLETED),
        ("succeeded", S.COMPLETED),
        ("success", S.COMPLETED),
        ("SUCCEEDED", S.COMPLETED),
        ("Completed", S.COMPLETED),
        ("error", S.ERROR),
        ("failed", S.ERROR),
        ("cancelled", S.ERROR),
        ("expired", S.ERROR),
        ("FAILED", S.ERROR),
        ("teleporting", S.UNKNOWN),
        ("", S.UNKNOWN),
    ],
)
def test_status_vocabulary(word: str, status: sa.GenerationStatus) -> None:
    gen = _wire.parse_generation({"id": "cgt-1", "status": word})
    assert gen.status is status
    assert gen.raw_status == word
    assert gen.is_terminal == (status in (S.COMPLETED, S.ERROR))


def test_status_is_a_string_enum() -> None:
    assert S.COMPLETED == "completed"
    assert not S.UNKNOWN.is_terminal


@pytest.mark.parametrize("status", [None, 7, ["completed"]])
def test_odd_status_values_are_pending_not_a_crash(status: object) -> None:
    gen = _wire.parse_generation({"id": "x", "status": status})
    assert gen.status is S.UNKNOWN and not gen.is_terminal


def test_completed_payload_with_usage_and_unknown_keys() -> None:
    gen = _wire.parse_generation(
        {
            "id": "FGcTGqPuBac0Masr9DI8-",
            "status": "completed",
            "video": {"url": "https://cdn.example.com/v.mp4?X-Tos-Expires=86400"},
            "meta": {"usage": {"credits_used": 1200000, "usd_spent": 0.6}},
            "something_new": {"nested": True},
        }
    )
    assert gen.video_url == "https://cdn.example.com/v.mp4?X-Tos-Expires=86400"
    assert gen.credits_used == 1_200_000
    assert gen.raw["something_new"] == {"nested": True}


def test_tokens_used_from_older_schemas() -> None:
    gen = _wire.parse_generation(
        {"id": "a", "status": "queued", "meta": {"usage": {"tokens_used": 5}}}
    )
    assert gen.credits_used == 5


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd", 42, None])
def test_video_url_must_be_http(url: object) -> None:
    gen = _wire.parse_generation({"id": "a", "status": "completed", "video": {"url": url}})
    assert gen.video_url is None


@pytest.mark.parametrize(
    ("error", "name", "message"),
    [
        ({"name": "ModerationError", "message": "unsafe image"}, "ModerationError", "unsafe image"),
        (
            {"detail": [{"loc": ["body", "prompt"], "msg": "too long", "type": "value_error"}]},
            "error",
            "body.prompt: too long",
        ),
        ("plain words", "error", "plain words"),
    ],
)
def test_failed_job_error_shapes(error: object, name: str, message: str) -> None:
    gen = _wire.parse_generation({"id": "a", "status": "error", "error": error})
    assert gen.error == sa.GenerationError(name=name, message=message)


def test_failed_job_without_error_object_still_explains() -> None:
    gen = _wire.parse_generation({"id": "a", "status": "expired"})
    assert gen.error is not None and "expired" in gen.error.message


@pytest.mark.parametrize("payload", [[], "text", {"status": "queued"}, {"id": ""}, {"id": True}])
def test_unusable_payloads_raise_connection_error(payload: Any) -> None:
    with pytest.raises(sa.APIConnectionError):
        _wire.parse_generation(payload)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {
                "requestId": "r-1",
                "statusCode": 401,
                "timestamp": "t",
                "path": "/v2",
                "message": "Unauthorized",
            },
            "Unauthorized",
        ),
        (
            {"title": "Forbidden", "status": 403, "message": "You've run out of funds"},
            "You've run out of funds",
        ),
        ({"error": {"name": "BadRequest", "message": "prompt required"}}, "prompt required"),
        ({"error": {"detail": [{"loc": ["body", "x"], "msg": "bad x"}]}}, "body.x: bad x"),
        ({"detail": "Not Found"}, "Not Found"),
        ({"detail": [{"msg": "a"}, {"msg": "b"}]}, "a; b"),
        ({"message": ["one", "two"]}, "one; two"),
        (
            {
                "message": "Body validation error!",
                "detail": [{"loc": ["body", "duration"], "msg": "bad"}],
            },
            "Body validation error! (body.duration: bad)",
        ),
        ({"title": "Forbidden"}, "Forbidden"),
        ({}, None),
    ],
)
def test_error_message_from_every_shape(body: object, message: str | None) -> None:
    assert _wire.error_message(body) == message


def test_html_bodies_become_short_messages() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>"
    assert _wire.text_message(page) == "502 Bad Gateway"
    assert _wire.text_message("<p>Service &amp; more</p>") == "Service & more"
    assert len(_wire.text_message("x" * 5000)) <= 303


def test_request_id_from_body_then_headers() -> None:
    assert _wire.request_id({"requestId": "abc"}, {}) == "abc"
    assert _wire.request_id(None, {"x-request-id": "hdr"}) == "hdr"
    assert _wire.request_id({}, {}) is None


@pytest.mark.parametrize(
    ("status", "message", "cls"),
    [
        (400, "Body validation error!", sa.BadRequestError),
        (422, "bad", sa.BadRequestError),
        (401, "Unauthorized", sa.AuthenticationError),
        (402, "pay up", sa.InsufficientCreditsError),
        (403, "You've run out of funds", sa.InsufficientCreditsError),
        (403, "Account needs verification", sa.PermissionDeniedError),
        (404, "not found", sa.NotFoundError),
        (429, "Too Many Requests", sa.RateLimitError),
        (500, "The model is under maintenance", sa.ServerError),
        (502, "Bad gateway", sa.ServerError),
        (503, "Unavailable", sa.ServerError),
        (504, "Generation timeout", sa.ServerError),
        (409, "conflict", sa.APIStatusError),
    ],
)
def test_status_codes_map_to_exceptions(status: int, message: str, cls: type) -> None:
    exc = _http.status_error(status, message, body=None, headers={}, url="https://api/x")
    assert type(exc) is cls
    assert exc.status_code == status and exc.message == message
    assert str(status) in str(exc) and "https://api/x" in str(exc)


def test_insufficient_credits_is_a_permission_error() -> None:
    assert issubclass(sa.InsufficientCreditsError, sa.PermissionDeniedError)


def test_retry_after_seconds_and_dates() -> None:
    assert _http.parse_retry_after("3") == 3.0
    assert _http.parse_retry_after("1.5") == 1.5
    assert _http.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert _http.parse_retry_after("soon") is None
    assert _http.parse_retry_after(None) is None
