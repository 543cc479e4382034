"""Push subscription delivery: the wire bodies Pub/Sub POSTs, and an aiohttp dispatcher.

A message is anything with these attributes (duck-typed, see ``PushableMessage``):
``data: bytes``, ``attributes: Mapping[str, str]``, ``message_id: str``,
``publish_time`` (a ``datetime``, naive means UTC, or a protobuf ``Timestamp``) and optionally
``ordering_key: str``. ``google.pubsub_v1.types.PubsubMessage`` (proto-plus), its raw pb2 message
and a plain dataclass all qualify.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

import aiohttp

from emulators.pubsub import clock

SUCCESS_CODES = frozenset({102, 200, 201, 202, 204})
DEFAULT_TIMEOUT_S = 10.0
log = logging.getLogger(__name__)

USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"

# RFC 7230 token characters; an attribute that is not a valid header cannot be written as one
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


class PushableMessage(Protocol):
    data: bytes
    attributes: Mapping[str, str]
    message_id: str
    publish_time: Any  # datetime or google.protobuf.Timestamp
    ordering_key: str


def rfc3339(ts: Any) -> str:
    """Format a publish time like protobuf JSON: UTC, 'Z', 0/3/6/9 fractional digits."""
    if hasattr(ts, "seconds") and hasattr(ts, "nanos") and not isinstance(ts, datetime):
        seconds, nanos = int(ts.seconds), int(ts.nanos)
    elif isinstance(ts, datetime):
        aware = ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
        seconds = int(aware.replace(microsecond=0).timestamp())
        # DatetimeWithNanoseconds (what proto-plus returns) keeps nanoseconds
        nanos = getattr(ts, "nanosecond", 0) or aware.microsecond * 1000
    else:
        raise TypeError(f"publish_time must be a datetime or Timestamp, not {type(ts).__name__}")
    return clock.rfc3339(seconds, nanos)


def envelope(
    message: PushableMessage, subscription_name: str, delivery_attempt: int | None
) -> dict:
    """The JSON body of a wrapped push request.

    ``data`` (base64) and ``attributes`` are left out when empty, like protobuf JSON.

    ``deliveryAttempt`` is present only when ``delivery_attempt`` is given, which the caller
    should do only for subscriptions with a dead-letter policy (as the service does).
    """
    publish_time = rfc3339(message.publish_time)
    body: dict[str, Any] = {}
    # proto3 JSON, as the service writes it, leaves out empty data and empty attributes
    if message.data:
        body["data"] = base64.b64encode(bytes(message.data)).decode("ascii")
    if message.attributes:
        body["attributes"] = dict(message.attributes)
    body.update(
        messageId=message.message_id,
        message_id=message.message_id,
        publishTime=publish_time,
        publish_time=publish_time,
    )
    ordering_key = getattr(message, "ordering_key", "")
    if ordering_key:
        body["orderingKey"] = ordering_key
    result: dict[str, Any] = {"message": body, "subscription": subscription_name}
    if delivery_attempt is not None:
        result["deliveryAttempt"] = delivery_attempt
    return result


def unwrapped(
    message: PushableMessage, subscription_name: str, write_metadata: bool
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a ``no_wrapper`` push: the raw data, metadata optionally as headers.

    With ``write_metadata`` the service adds ``x-goog-pubsub-subscription-name``,
    ``-message-id``, ``-publish-time``, ``-ordering-key`` (when set) and each attribute as a
    header of the same name; attributes that are not valid HTTP headers are left out.
    """
    headers: dict[str, str] = {}
    if write_metadata:
        for key, value in dict(message.attributes).items():
            if _HEADER_NAME.fullmatch(key) and _HEADER_VALUE.fullmatch(value):
                headers[key] = value
        headers["x-goog-pubsub-subscription-name"] = subscription_name
        headers["x-goog-pubsub-message-id"] = message.message_id
        headers["x-goog-pubsub-publish-time"] = rfc3339(message.publish_time)
        ordering_key = getattr(message, "ordering_key", "")
        if ordering_key:
            headers["x-goog-pubsub-ordering-key"] = ordering_key
    return bytes(message.data), headers


class PushDispatcher:
    """POSTs push requests over one shared aiohttp session; never raises on delivery failure."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_S):
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, headers={"User-Agent": USER_AGENT}
            )
        return self._session

    async def deliver(
        self,
        endpoint: str,
        envelope_or_body: Mapping[str, Any] | bytes,
        headers: Mapping[str, str] | None = None,
    ) -> bool:
        """POST once. True when the endpoint answered 102/200/201/202/204 (an ack).

        A mapping is sent as JSON (``Content-Type: application/json``), bytes as the raw body.
        Non-success statuses, redirects, timeouts and connection errors give False.
        """
        send_headers = dict(headers or {})
        if isinstance(envelope_or_body, (bytes, bytearray, memoryview)):
            payload = bytes(envelope_or_body)
        else:
            payload = json.dumps(envelope_or_body).encode("utf-8")
            send_headers.setdefault("Content-Type", "application/json")
        try:
            async with self._client().post(
                endpoint, data=payload, headers=send_headers, allow_redirects=False
            ) as resp:
                await resp.read()  # drain so the connection goes back to the pool
                if resp.status in SUCCESS_CODES:
                    return True
                log.info("push to %s answered HTTP %s (nack)", endpoint, resp.status)
                return False
        except TimeoutError:
            log.info("push to %s timed out after %ss", endpoint, self.timeout.total)
        except Exception as exc:  # connection refused, bad URL, invalid header, ...
            log.info("push to %s failed: %s: %s", endpoint, type(exc).__name__, exc)
        return False

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
