"""uvicorn's HTTP/1.1 protocols with the two guards a public server needs.

- **Header timeout.** uvicorn times out an idle keep-alive connection, but not a client that opens
  a connection and sends its request headers a byte at a time (slowloris): one such client per
  connection slot starves the server. Here a request's headers must be complete within
  ``MANIFEST_SERVE_HEADER_TIMEOUT`` seconds (default 10) of the connection opening or of the
  previous response; otherwise the client gets 408 ``REQUEST_TIMEOUT`` and the connection closes.
- **Protocol errors as problems.** A request uvicorn cannot parse (a bad request line, a bad
  ``Content-Length``, a header without a colon) is answered with uvicorn's ``text/plain`` 400; here
  it is a 400 ``MALFORMED_REQUEST`` problem document like every other error of the API.

``manifest serve`` passes ``http="manifest_lang.http.protocol:HttpProtocol"`` to uvicorn (a string,
so ``--workers N`` processes import it too); the timeout comes from the environment for the same
reason.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from .problems import PROBLEM_KINDS, PROBLEM_MEDIA_TYPE, Problem

HEADER_TIMEOUT_ENV = "MANIFEST_SERVE_HEADER_TIMEOUT"
DEFAULT_HEADER_TIMEOUT = 10.0


def header_timeout() -> float:
    """Seconds a client has to send a request's headers (``MANIFEST_SERVE_HEADER_TIMEOUT``)."""
    try:
        value = float(os.environ.get(HEADER_TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT))
    except ValueError:
        return DEFAULT_HEADER_TIMEOUT
    return value if value > 0 else DEFAULT_HEADER_TIMEOUT


def problem_response(code: str, detail: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A complete HTTP/1.1 response carrying a problem document, closing the connection."""
    kind = PROBLEM_KINDS[code]
    body = orjson.dumps(Problem(code, detail).to_dict())
    head = [f"HTTP/1.1 {kind.status} {kind.title}".encode("latin-1", "replace")]
    head += [name + b": " + value for name, value in default_headers]
    head += [
        b"content-type: " + PROBLEM_MEDIA_TYPE.encode(),
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class _Guards:
    """Mixed in before uvicorn's protocol class (both have the same attribute and hook names)."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    server_state: Any
    _header_timer: asyncio.TimerHandle | None = None

    # -- uvicorn's hooks -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm_header_timer()  # the next request's headers are due as well

    def send_400_response(self, msg: str) -> None:
        self._close_with("MALFORMED_REQUEST", msg)

    # -- the header timer ------------------------------------------------------------------------
    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(header_timeout(), self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # the headers arrived: a request is being handled (its body may be streaming)
        self._close_with("REQUEST_TIMEOUT", "The request headers were not received in time")

    def _close_with(self, code: str, detail: str) -> None:
        self.transport.write(problem_response(code, detail, self.server_state.default_headers))
        self.transport.close()


class H11HttpProtocol(_Guards, H11Protocol):
    """uvicorn's pure-Python (h11) protocol with the guards."""


def _httptools_protocol() -> type[Any] | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is optional for uvicorn; h11 always works
        return None

    class HttpToolsHttpProtocol(_Guards, HttpToolsProtocol):
        """uvicorn's httptools protocol (the faster one) with the guards."""

    return HttpToolsHttpProtocol


HttpToolsHttpProtocol = _httptools_protocol()
#: what ``manifest serve`` runs: httptools when installed (as uvicorn's "auto"), else h11
HttpProtocol: type[Any] = HttpToolsHttpProtocol or H11HttpProtocol
