"""The one choke point for API traffic: send, map statuses to errors, retry, redact.

Nothing else in the library sends a request to the API. The key is added here, to
requests for the API's own host only, and never appears in a message or a log line.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Literal

import aiohttp
import anyio.to_thread
import yarl

from ._config import MAX_RESPONSE_BYTES, RetryPolicy
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SubmissionUncertainError,
)
from ._models import Generation, Usage, VideoRequest
from ._wire import CREATE_PATH, error_message, parse_generation, request_id, text_message

logger: Final = logging.getLogger("seedance_async")

Sleep = Callable[[float], Awaitable[None]]
Verdict = Literal["retry", "raise", "uncertain"]

_FUNDS_WORDS: Final = ("fund", "credit", "balance", "billing", "payment", "top up", "quota")


class _Unsent(APIConnectionError):
    """Marker: the connection never opened, so the request cannot have been processed."""


class _UnsentTimeout(_Unsent, APITimeoutError):
    pass


def status_error(
    status: int, message: str, *, body: Any, headers: Mapping[str, str], url: str
) -> APIStatusError:
    """The exception for an error status: one function maps every code."""
    cls: type[APIStatusError]
    if status in (400, 422):
        cls = BadRequestError
    elif status == 401:
        cls = AuthenticationError
    elif status == 402 or (status == 403 and any(w in message.lower() for w in _FUNDS_WORDS)):
        cls = InsufficientCreditsError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = NotFoundError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerError
    else:
        cls = APIStatusError
    return cls(
        message,
        status_code=status,
        request_id=request_id(body, headers),
        body=body,
        url=url,
        retry_after=parse_retry_after(headers.get("Retry-After")),
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def verdict(exc: APIError, *, paid: bool) -> Verdict:
    """Whether a failed request may be sent again.

    The paid POST is sent again only when no job can exist: the connection never
    opened, or a rate limiter or gateway turned it away (429, 502, 503).
    """
    if isinstance(exc, _Unsent):
        return "retry"
    if isinstance(exc, APIStatusError):
        code = exc.status_code
        if code in (429, 502, 503):
            return "retry"
        if code == 408 or code >= 500:
            return "uncertain" if paid else "retry"
        return "raise"
    if isinstance(exc, APIConnectionError):
        return "uncertain" if paid else "retry"
    return "raise"


class HttpCore:
    """Sends API requests with the key, the retry policy and the error mapping."""

    __slots__ = (
        "_api_key",
        "_base",
        "_endpoints",
        "_random",
        "_retry",
        "_session",
        "_sleep",
        "_timeout",
        "_usage",
        "_user_agent",
    )

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: yarl.URL,
        api_key: str,
        retry: RetryPolicy,
        timeout: aiohttp.ClientTimeout,
        user_agent: str,
        sleep: Sleep,
        usage: Usage,
        rng: random.Random | None = None,
    ) -> None:
        self._session = session
        self._base = base_url
        self._endpoints: dict[str, yarl.URL] = {}
        self._api_key = api_key
        self._retry = retry
        self._timeout = timeout
        self._user_agent = user_agent
        self._sleep = sleep
        self._usage = usage
        self._random = rng or random.Random()

    def __repr__(self) -> str:
        return f"<HttpCore base_url={str(self._base)!r}>"

    @property
    def base_url(self) -> yarl.URL:
        return self._base

    async def create(self, body: Mapping[str, Any], request: VideoRequest) -> Generation:
        """The paid POST: never sent twice unless no job can have been created."""
        try:
            payload = await self._call("POST", CREATE_PATH, json_body=body, paid=True)
        except SubmissionUncertainError as exc:
            exc.request = request
            raise
        try:
            return parse_generation(payload)
        except APIConnectionError as exc:
            # A 2xx answer we cannot read: the job was probably created.
            raise SubmissionUncertainError(
                f"the create call was answered, but unreadably ({exc.message}); "
                "a job may exist and be billed",
                request=request,
            ) from exc

    async def retrieve(self, generation_id: str, *, retry: bool = True) -> Generation:
        payload = await self._call(
            "GET", CREATE_PATH, params={"generation_id": generation_id}, retry=retry
        )
        return parse_generation(payload)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        paid: bool = False,
        retry: bool = True,
    ) -> Any:
        policy = self._retry
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._once(method, path, params, json_body)
            except APIError as exc:
                decision = verdict(exc, paid=paid)
                if decision == "uncertain" and policy.resubmit_uncertain:
                    decision = "retry"
                if decision == "uncertain":
                    self._usage.uncertain += 1
                    logger.warning("create call ended ambiguously, not resending: %s", exc)
                    raise SubmissionUncertainError(
                        f"the create call was sent but {exc}; a job may exist and be "
                        "billed, so it is not sent again",
                    ) from exc
                if decision == "raise" or not retry or attempt >= policy.attempts:
                    if isinstance(exc, _Unsent):
                        raise _public(exc) from exc.__cause__
                    raise
                delay = self._delay(attempt, exc)
                self._usage.retries += 1
                logger.info(
                    "%s %s failed (%s); try %d of %d in %.2fs",
                    method, path, exc, attempt + 1, policy.attempts, delay,
                )  # fmt: skip
                await self._sleep(delay)

    def _delay(self, attempt: int, exc: APIError) -> float:
        policy = self._retry
        hint = getattr(exc, "retry_after", None)
        if isinstance(hint, float):
            return min(hint, policy.retry_after_cap)
        ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** (attempt - 1))
        return self._random.uniform(0, ceiling)

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None,
    ) -> Any:
        url = self._endpoints.get(path)
        if url is None:
            url = self._endpoints[path] = self._base.with_path(self._base.path.rstrip("/") + path)
        if params:
            url = url.with_query(params)
        shown = str(url)
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
        }
        logger.debug("%s %s", method, shown)
        data: bytes | None = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            data = await _dumps(json_body)
        try:
            async with self._session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                raw = await _read_capped(resp, shown)
                status = resp.status
                resp_headers: Mapping[str, str] = resp.headers
        except aiohttp.ConnectionTimeoutError as exc:
            raise _UnsentTimeout("timed out connecting to the API", url=shown) from exc
        except aiohttp.ClientConnectorError as exc:
            raise _Unsent(f"cannot connect to the API ({exc.os_error})", url=shown) from exc
        except TimeoutError as exc:
            raise APITimeoutError("the API did not answer in time", url=shown) from exc
        except aiohttp.ClientError as exc:
            kind = type(exc).__name__
            raise APIConnectionError(f"connection failed ({kind}: {exc})", url=shown) from exc
        logger.debug("%s %s -> %d", method, shown, status)
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        if 200 <= status < 300:
            if body is None:
                raise APIConnectionError(f"HTTP {status} with a body that is not JSON", url=shown)
            return body
        if 300 <= status < 400:
            message = f"unexpected redirect to {resp_headers.get('Location', '?')!r}"
        else:
            text = raw.decode("utf-8", "replace")
            message = error_message(body) or text_message(text) or f"HTTP {status}"
        raise status_error(
            status, message, body=body or raw[:2000], headers=resp_headers, url=shown
        )


_INLINE_JSON_LIMIT: Final = 256 * 1024


async def _dumps(body: Mapping[str, Any]) -> bytes:
    """The JSON body; large ones (inline images) are serialised off the event loop."""
    size = sum(len(v) for v in body.values() if isinstance(v, str))
    if size <= _INLINE_JSON_LIMIT:
        return json.dumps(body).encode()
    return await anyio.to_thread.run_sync(lambda: json.dumps(body).encode())


def _public(exc: _Unsent) -> APIConnectionError:
    cls = APITimeoutError if isinstance(exc, APITimeoutError) else APIConnectionError
    return cls(exc.message, url=exc.url)


async def _read_capped(resp: aiohttp.ClientResponse, url: str) -> bytes:
    length = resp.content_length
    if length is not None and length > MAX_RESPONSE_BYTES:
        raise APIConnectionError(f"answer of {length} bytes is too large", url=url)
    if length is not None:
        return await resp.read()
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_any():
        total += len(chunk)
        if total > MAX_RESPONSE_BYTES:
            raise APIConnectionError("answer is too large", url=url)
        chunks.append(chunk)
    return b"".join(chunks)
