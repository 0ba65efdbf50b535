"""``--serve HOST:PORT``: a browser live view on the standard library's http.server.

One page (``/``) showing one MJPEG stream (``/stream.mjpg``: original | deblurred side by side,
so both halves are always the same frame) as a split view with a slider, and live stats polled
from ``/stats.json``. Anything else is a 404. It binds 127.0.0.1 unless another host is given.
The pipeline only hands over its latest frames (no encoding in the pipeline): each stream
connection JPEG-encodes in its own server thread.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from runtime.errors import InputError, expected
from runtime.sinks import Sink

PAGE = Path(__file__).resolve().parent / "static" / "live.html"
BOUNDARY = "edgedeblurframe"


def parse_host_port(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` (host 127.0.0.1); IPv6 as ``[::1]:PORT``."""
    t = text.strip()
    m = re.fullmatch(
        r"(?:\[(?P<v6>[0-9a-fA-F:]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d+)|(?P<p>\d+)", t
    )
    if not m:
        raise InputError(expected("--serve", "HOST:PORT such as 127.0.0.1:8080", text))
    host = m.group("v6") or m.group("host") or default_host
    port = int(m.group("port") or m.group("p"))
    if not 0 <= port <= 65535:
        raise InputError(expected("--serve", "a port in 0..65535", port))
    return host, port


class LiveView(Sink):
    """A sink that serves the latest frame pair and stats over HTTP while the stream runs."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        stats_fn: Callable[[], dict] | None = None,
        quality: int = 80,
    ) -> None:
        self.stats_fn = stats_fn or (lambda: {})
        self.quality = int(quality)
        self._cond = threading.Condition()
        self._frames: tuple[np.ndarray, np.ndarray] | None = None
        self._seq = 0
        self._closed = False
        self._page = PAGE.read_bytes()
        server_class = ThreadingHTTPServer
        if ":" in host:  # an IPv6 address ([::1]:8080): the stock server binds IPv4 only

            class _Server6(ThreadingHTTPServer):
                address_family = socket.AF_INET6

            server_class = _Server6
        try:
            self.server = server_class((host, port), self._handler_class())
        except OSError as e:
            busy = e.errno in (errno.EADDRINUSE, errno.EACCES)
            raise InputError(
                f"--serve {host}:{port}: expected a free address to listen on, got "
                f"'{e.strerror or e}'; "
                + ("choose another port" if busy else "check the host name or address")
            ) from e
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.1,), name="serve", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"http://{host}:{self.port}/"

    def write(self, original: np.ndarray, deblurred: np.ndarray) -> None:
        with self._cond:
            self._frames = (original, deblurred)
            self._seq += 1
            self._cond.notify_all()

    def close(self, ok: bool = True) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def _next_jpeg(self, last_seq: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """The next frame pair as one side-by-side JPEG, or None when none came in time."""
        import cv2

        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._seq != last_seq, timeout=timeout)
            if self._closed or self._frames is None or self._seq == last_seq:
                return last_seq, None
            seq, (original, deblurred) = self._seq, self._frames
        if original.shape != deblurred.shape:
            original = cv2.resize(original, (deblurred.shape[1], deblurred.shape[0]))
        both = cv2.cvtColor(np.concatenate([original, deblurred], axis=1), cv2.COLOR_RGB2BGR)
        ok, enc = cv2.imencode(".jpg", both, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        return seq, (enc.tobytes() if ok else None)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        view = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "edge-deblur"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # quiet: the stream runs for hours

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                path = self.path.split("?", 1)[0]
                if path in ("/", "/index.html"):
                    self._send(200, "text/html; charset=utf-8", view._page)
                elif path == "/stats.json":
                    body = json.dumps(view.stats_fn()).encode("utf-8")
                    self._send(200, "application/json", body)
                elif path == "/stream.mjpg":
                    self._stream()
                else:
                    self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n")

            do_HEAD = do_GET  # noqa: N815

            def _not_found(self) -> None:
                self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n")

            do_POST = do_PUT = do_DELETE = do_PATCH = _not_found  # noqa: N815

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if self.command == "HEAD":
                    return
                seq = 0
                with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
                    while not view._closed:
                        seq, jpg = view._next_jpeg(seq)
                        if jpg is None:
                            continue
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(jpg)}\r\n\r\n".encode("ascii")
                        )
                        self.wfile.write(jpg)
                        self.wfile.write(b"\r\n")
                        self.wfile.flush()

        return Handler
