"""How long a client may take: to send a request head, to send its body, to reuse a connection.

uvicorn closes a keep-alive connection left idle after a response (``timeout_keep_alive``), but
sets no bound on a client that sends a request head or body slowly, or opens a connection and
sends nothing ("slowloris"). :func:`protocol_class` returns uvicorn's httptools protocol with
two more timers:

- the **head timer** runs from the moment a connection opens, or from the first byte after an
  idle keep-alive period, until the request head (request line and headers) is complete. Past
  ``header_timeout`` the client gets 408 and the connection is closed (closed without an answer
  when not one byte of a request came);
- the **body timer** runs from the end of the head to the end of the body. Past
  ``body_timeout`` the client gets 408 if no response has started, and the connection is
  closed. The handler reading the body sees the client gone (Starlette's ``ClientDisconnect``).

Every timer is cancelled when the connection closes. Requests are never timed while the
application works on them: report time has its own budget (``report_timeout``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from footfall.errors import ApiError


class Timeouts(msgspec.Struct, frozen=True):
    header: float  # seconds to send the request head
    body: float  # seconds to send the body, once the head is in


def timeout_response(message: str) -> bytes:
    """A raw 408 in Google's error shape that closes the connection."""
    body = msgspec.json.encode(ApiError(408, message, "DEADLINE_EXCEEDED").body())
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


def protocol_class(timeouts: Timeouts) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with the head and body timers (give it as ``http=``)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class TimedProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_timer: asyncio.TimerHandle | None = None
            self._body_timer: asyncio.TimerHandle | None = None
            self._in_head = False  # a request has begun and its head is not complete

        # -- the timers -------------------------------------------------------------------

        def _arm_head(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(timeouts.header, self._head_expired)

        def _cancel(self) -> None:
            for timer in (self._head_timer, self._body_timer):
                if timer is not None:
                    timer.cancel()
            self._head_timer = self._body_timer = None

        def _head_expired(self) -> None:
            self._head_timer = None
            if self.transport.is_closing():
                return
            if not self._in_head:  # not one byte of a request: nothing to answer
                self.transport.close()
                return
            self._answer_timeout(
                f"the request head did not arrive within {timeouts.header:g} s (header_timeout)"
            )

        def _body_expired(self) -> None:
            self._body_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_started:
                self._answer_timeout(
                    f"the request body did not arrive within {timeouts.body:g} s (body_timeout)"
                )
            else:  # answered already (without reading the body): just stop waiting for it
                self.transport.close()

        def _answer_timeout(self, message: str) -> None:
            if self.cycle is not None:
                self.cycle.response_started = True  # nothing else is written after this
            self.transport.write(timeout_response(message))
            self.transport.close()

        # -- uvicorn's protocol, with the timers around it -----------------------------------

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            between_requests = self.cycle is None or self.cycle.response_complete
            if between_requests and self._body_timer is None:
                self._arm_head()  # after an idle keep-alive period, any byte starts the clock
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head = True
            self._arm_head()

        def on_headers_complete(self) -> None:
            self._in_head = False
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().on_headers_complete()
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(timeouts.body, self._body_expired)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

    return TimedProtocol
