"""What to do with a batch after each attempt: the one set of delivery rules both clients follow.

- 2xx: the accepted events are durable; rejected ones are final and counted by reason.
- 400 with per-event results (every event rejected): final, counted by reason.
- 413 with more than one event: the batch is split in two and each half is sent.
- 408, 429, 5xx, a connection error or a timeout: retried with the same ``event_id`` s, after
  ``Retry-After`` when the server gives one, else after an exponential backoff with jitter.
- Any other 4xx (a bad envelope, a wrong secret, an unknown stream): final; a warning names the
  status and the server's message, and the batch's events count as failed.
"""

from __future__ import annotations

import enum
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import msgspec

from footfall.client.buffer import Batch

log = logging.getLogger("footfall.client")

RETRYABLE = frozenset({408, 429}) | frozenset(range(500, 600))
MAX_LOGGED_MESSAGE = 300


class Stats(msgspec.Struct, kw_only=True):
    """What became of every tracked event. ``tracked`` always equals ``accepted + rejected +
    failed + dropped + unsent + pending``."""

    tracked: int = 0
    accepted: int = 0  # the collector answered 2xx for it: it is durable
    rejected: int = 0  # the collector refused this event (by reason in ``rejected_by_reason``)
    failed: int = 0  # its whole request was refused with a final status, or retries gave up
    dropped: int = 0  # the queue was full: dropped, oldest first, before it was sent
    unsent: int = 0  # still queued or in flight when ``close`` ran out of time
    pending: int = 0  # queued or in flight now
    requests: int = 0
    retries: int = 0
    rejected_by_reason: dict[str, int] = msgspec.field(default_factory=dict)


class Step(enum.Enum):
    DONE = "done"
    RETRY = "retry"
    SPLIT = "split"


class Outcome(msgspec.Struct, frozen=True):
    step: Step
    delay: float = 0.0  # before the retry
    why: str = ""  # for the log line of a retry


class Backoff(msgspec.Struct, frozen=True):
    """Equal jitter: attempt ``n`` waits between half and all of ``min(cap, base * 2**n)``."""

    base: float
    cap: float
    max_retry_after: float

    def delay(self, attempt: int, retry_after: float | None, random: Callable[[], float]) -> float:
        if retry_after is not None:  # the server said when; a little jitter spreads the herd
            return min(self.max_retry_after, retry_after) + random() * self.base
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt, 62))
        return ceiling / 2 + random() * ceiling / 2


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (the collector sends whole seconds), or None."""
    value = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
        text = str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        text = response.text
    return text[:MAX_LOGGED_MESSAGE]


class Ledger:
    """The running :class:`Stats`, shared by the threads (or the task) of one client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = Stats()

    def snapshot(self, pending: int) -> Stats:
        with self._lock:
            s = msgspec.structs.replace(
                self._stats, rejected_by_reason=dict(self._stats.rejected_by_reason)
            )
        s.pending = pending
        return s

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self._stats, name, getattr(self._stats, name) + n)

    def reject(self, reasons: Counter[str]) -> None:
        with self._lock:
            self._stats.rejected += sum(reasons.values())
            by = self._stats.rejected_by_reason
            for reason, n in reasons.items():
                by[reason] = by.get(reason, 0) + n


class Rules:
    """Judges one attempt at sending a batch and records what it means in the ledger."""

    def __init__(self, ledger: Ledger, backoff: Backoff, random: Callable[[], float]) -> None:
        self.ledger, self.backoff, self.random = ledger, backoff, random

    def judge(self, batch: Batch, result: httpx.Response | Exception, attempt: int) -> Outcome:
        self.ledger.add(requests=1)
        if isinstance(result, Exception):
            return self._retry(attempt, None, f"{type(result).__name__}")
        status = result.status_code
        if 200 <= status < 300:
            self._results(batch, result, ok=True)
            return Outcome(Step.DONE)
        if status == 413 and len(batch) > 1:
            return Outcome(Step.SPLIT)
        if status in RETRYABLE:
            return self._retry(attempt, retry_after(result), f"HTTP {status}")
        if status == 400 and self._results(batch, result, ok=False):
            return Outcome(Step.DONE)
        log.warning(
            "footfall refused %d events with HTTP %d: %s",
            len(batch),
            status,
            server_message(result),
        )
        self.ledger.add(failed=len(batch))
        return Outcome(Step.DONE)

    def give_up(self, batch: Batch, *, unsent: bool) -> None:
        if unsent:
            self.ledger.add(unsent=len(batch))
        else:
            log.warning("footfall: gave up sending %d events after retrying", len(batch))
            self.ledger.add(failed=len(batch))

    def _retry(self, attempt: int, after: float | None, why: str) -> Outcome:
        self.ledger.add(retries=1)
        return Outcome(Step.RETRY, self.backoff.delay(attempt, after, self.random), why)

    def _results(self, batch: Batch, response: httpx.Response, *, ok: bool) -> bool:
        """Count per-event results; False when the body has none (a whole-request error)."""
        results = _event_results(response)
        if results is None or len(results) != len(batch):
            if not ok:
                return False
            self.ledger.add(accepted=len(batch))  # a 2xx means durable, whatever its body says
            return True
        reasons: Counter[str] = Counter()
        first: dict[str, str] = {}
        for result in results:
            if result.get("status") == "accepted":
                continue
            reason = str(result.get("reason") or "rejected")[:64]
            reasons[reason] += 1
            first.setdefault(reason, str(result.get("message") or "")[:MAX_LOGGED_MESSAGE])
        self.ledger.add(accepted=len(batch) - sum(reasons.values()))
        if reasons:
            self.ledger.reject(reasons)
            for reason, n in reasons.items():
                log.warning("footfall rejected %d events (%s): %s", n, reason, first[reason])
        return True


def _event_results(response: httpx.Response) -> list[dict[str, Any]] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return None
    return events


_SECRET = re.compile(r"(api_secret=)[^&\s\"']+")


def redact(text: str) -> str:
    """The text with every ``api_secret`` value in a URL replaced by ``***``."""
    return _SECRET.sub(r"\1***", text)


class RedactSecrets(logging.Filter):
    """On httpx's logger: its ``HTTP Request: POST <url>`` lines carry the query string, where
    the collector takes the ``api_secret``; the value is masked before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("api_secret=" in str(a) for a in record.args):
            record.args = tuple(
                redact(str(a)) if "api_secret=" in str(a) else a for a in record.args
            )
        return True


_redacting = threading.Lock()


def redact_httpx_logs() -> None:
    """Install :class:`RedactSecrets` on the ``httpx`` logger, once."""
    with _redacting:
        logger = logging.getLogger("httpx")
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
