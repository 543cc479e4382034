"""Per-source token buckets and the bounded memory of recently accepted event ids."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; one token per event."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic):
        self.rate = rate
        self.burst = burst or 2 * rate
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()

    def take(self, n: int) -> float:
        """Take ``n`` tokens and return 0, or take none and return the seconds until ``n``
        would be there (``inf`` if ``n`` exceeds the bucket)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if n <= self._tokens:
            self._tokens -= n
            return 0.0
        if n > self.burst:
            return float("inf")
        return (n - self._tokens) / self.rate


class RecentIds:
    """Event ids accepted (or being published) in the last ``window`` seconds, at most
    ``max_entries`` of them: past that the oldest are forgotten early, so memory stays bounded
    and only the window shrinks under extreme load.

    Keys map to a future while Pub/Sub has not answered yet (a concurrent resubmission waits for
    it instead of publishing again) and to the message id once it has. Lives on one event loop.
    """

    def __init__(self, window: float, max_entries: int, clock=time.monotonic):
        self.window = window
        self.max_entries = max(1, max_entries)
        self._clock = clock
        self._entries: OrderedDict[tuple, tuple[float, object]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _expire(self) -> None:
        now = self._clock()
        while self._entries:
            key, (expires, value) = next(iter(self._entries.items()))
            if expires > now or isinstance(value, asyncio.Future):
                break
            del self._entries[key]

    def get(self, key: tuple):
        """A message id (accepted), a future (in flight) or None."""
        self._expire()
        entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def begin(self, key: tuple) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._put(key, future)
        return future

    def finish(self, key: tuple, future: asyncio.Future, message_id: str | None) -> None:
        """Resolve ``future`` (from :meth:`begin`) with the outcome: a message id keeps the key
        for the window, None (not published) forgets it."""
        if not future.done():
            future.set_result(message_id)
        entry = self._entries.get(key)
        if entry is not None and entry[1] is not future:
            return  # evicted and taken again meanwhile: leave the newer entry alone
        if message_id is None:
            self._entries.pop(key, None)
        else:
            self._put(key, message_id)

    def _put(self, key: tuple, value) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self.window, value)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
