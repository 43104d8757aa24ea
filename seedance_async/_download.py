"""Streamed, atomic downloads from the file host, without the API key.

The bytes go to a temporary file beside the destination, renamed into place only once
complete: a failure never leaves a half-written video under the name you asked for.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Final

import aiohttp
import anyio
import anyio.to_thread

from ._errors import APIConnectionError, APIStatusError, APITimeoutError
from ._http import status_error

logger: Final = logging.getLogger("seedance_async")

CHUNK: Final = 256 * 1024
EXPIRED_STATUSES: Final = frozenset({403, 404, 410})


class DownloadTooLarge(APIConnectionError):
    """The file is larger than the download size cap."""


async def fetch_to_file(
    session: aiohttp.ClientSession,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: aiohttp.ClientTimeout,
) -> int:
    """Stream ``url`` into ``dest`` atomically; the number of bytes written.

    Sends no Authorization header: the file host is not the API.
    """
    part = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    written = 0
    await anyio.Path(dest.parent).mkdir(parents=True, exist_ok=True)
    try:
        async with session.get(url, timeout=timeout) as resp:
            if resp.status >= 400:
                text = (await resp.content.read(2000)).decode("utf-8", "replace")
                raise status_error(
                    resp.status,
                    f"file host answered {resp.status}: {text[:200]}".strip(),
                    body=text,
                    headers=resp.headers,
                    url=_shown(url),
                )
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise DownloadTooLarge(
                    f"video is {resp.content_length} bytes, over the {max_bytes}-byte cap",
                    url=_shown(url),
                )
            async with await anyio.open_file(part, "wb") as out:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise DownloadTooLarge(
                            f"video is over the {max_bytes}-byte cap", url=_shown(url)
                        )
                    await out.write(chunk)
        await anyio.to_thread.run_sync(os.replace, part, dest)
    except TimeoutError as exc:
        raise APITimeoutError("the file host did not answer in time", url=_shown(url)) from exc
    except aiohttp.ClientError as exc:
        raise APIConnectionError(f"download failed ({exc})", url=_shown(url)) from exc
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_unlink_quietly, part)
    logger.info("downloaded %d bytes to %s", written, dest)
    return written


def is_expired(exc: APIStatusError) -> bool:
    return exc.status_code in EXPIRED_STATUSES


def _unlink_quietly(path: Path) -> None:
    path.unlink(missing_ok=True)


def _shown(url: str) -> str:
    """The URL without its signature: signed query strings are credentials too."""
    return url.split("?", 1)[0]
