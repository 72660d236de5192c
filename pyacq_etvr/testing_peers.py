"""Real protocol peers for tests, examples and benchmarks: an OpenIris-format MJPEG HTTP server and an
ETVR serial writer on a pseudo-terminal. Both are real (sockets, a pty), start with a readiness handshake
(``start()`` returns once the peer accepts clients) and can misbehave on demand like field hardware.

* :class:`MjpegServer` — ``http.server`` on 127.0.0.1 streaming ``multipart/x-mixed-replace`` parts with
  ``Content-Length`` and ``X-Timestamp`` (chunked transfer encoding like ESP-IDF, or plain); it can
  :meth:`~MjpegServer.freeze` (connection open, no data), :meth:`~MjpegServer.kill` (listener and
  connections closed) and :meth:`~MjpegServer.revive` on the same port, and inject a corrupt or a
  truncated part.
* :class:`SerialPeer` — ``os.openpty()`` pair whose slave path pyserial opens; writes ``FF A0 FF A1`` +
  uint16 LE length + JPEG frames at a given fps and can inject garbage, a cut frame or a burst (backlog).

Every frame sent is logged in ``sent`` (index, camera time in s, JPEG bytes) so tests can pixel-compare.
"""

from __future__ import annotations

import http.server
import os
import select
import socket
import struct
import threading
import time
import tty
from collections.abc import Sequence

import numpy as np

OPENIRIS_BOUNDARY = "123456789000000000000987654321"
SERIAL_HEADER = b"\xff\xa0\xff\xa1"


def clip_jpegs(path: str, count: int = 60, quality: int = 90, gray: bool = False) -> list[bytes]:
    """Encode the first ``count`` frames of a video file as JPEGs (3-channel like OpenIris unless ``gray``)."""
    import cv2

    cap = cv2.VideoCapture(path)
    out: list[bytes] = []
    try:
        while len(out) < count:
            ok, frame = cap.read()
            if not ok:
                break
            if gray:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            ok, jpg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
            out.append(jpg.tobytes())
    finally:
        cap.release()
    if not out:
        raise ValueError(f"no frame could be read from {path!r}")
    return out


def decoded_lookup(jpegs: Sequence[bytes]) -> dict[bytes, int]:
    """Map the grey decoded pixels of each JPEG to its position (for exact pixel comparison)."""
    import cv2

    table: dict[bytes, int] = {}
    for i, jpg in enumerate(jpegs):
        img = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_GRAYSCALE)
        table.setdefault(img.tobytes(), i)
    return table


class _Pacer:
    """Frame clock with pause support; waits on an Event so controls take effect at once."""

    def __init__(self, fps: float, stop: threading.Event) -> None:
        self.period = 1.0 / fps
        self.stop = stop
        self.next = time.monotonic()

    def wait(self) -> bool:
        self.next = max(self.next + self.period, time.monotonic() - self.period)
        delay = self.next - time.monotonic()
        if delay > 0:
            return not self.stop.wait(delay)
        return not self.stop.is_set()


class MjpegServer:
    """OpenIris-format MJPEG server on 127.0.0.1 (one streaming client at a time, like the firmware)."""

    def __init__(
        self,
        jpegs: Sequence[bytes],
        fps: float = 60.0,
        port: int = 0,
        chunked: bool = True,
        boundary: str = OPENIRIS_BOUNDARY,
        camera_clock_start: float = 1000.0,
    ) -> None:
        if not jpegs:
            raise ValueError("MjpegServer needs at least one JPEG")
        self.jpegs = list(jpegs)
        self.fps = fps
        self.port = port
        self.chunked = chunked
        self.boundary = boundary
        self.camera_t0 = camera_clock_start
        self.mono_t0 = time.monotonic()
        self.sent: list[tuple[int, float, bytes]] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._unfrozen = threading.Event()
        self._unfrozen.set()
        self._inject: list[str] = []
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._clients: set[socket.socket] = set()
        self._handlers: list[threading.Thread] = []
        self._index = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def camera_time(self) -> float:
        """The camera's clock (s): a different origin from monotonic, like the ESP32's uptime."""
        return self.camera_t0 + (time.monotonic() - self.mono_t0)

    def start(self) -> MjpegServer:
        """Bind and listen (the port is fixed after the first start) and serve in a thread."""
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                peer._serve_client(self)

            def log_message(self, *args: object) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self._stop.clear()
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def _write(self, handler: http.server.BaseHTTPRequestHandler, data: bytes) -> None:
        if self.chunked:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        handler.wfile.write(data)

    def _serve_client(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.connections += 1
            self._clients.add(handler.connection)
            self._handlers.append(threading.current_thread())
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={self.boundary}")
            handler.send_header("Access-Control-Allow-Origin", "*")
            handler.send_header("X-Framerate", "60")
            if self.chunked:
                handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            pacer = _Pacer(self.fps, self._stop)
            while pacer.wait():
                if not self._unfrozen.is_set():
                    while not self._stop.is_set() and not self._unfrozen.wait(0.05):
                        pass
                    pacer.next = time.monotonic()
                    continue
                self._send_part(handler)
        except OSError:
            pass  # client went away or we were killed
        finally:
            with self._lock:
                self._clients.discard(handler.connection)
            handler.close_connection = True

    def _send_part(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        with self._lock:
            i = self._index
            self._index += 1
            mode = self._inject.pop(0) if self._inject else ""
        jpg = self.jpegs[i % len(self.jpegs)]
        stamp = self.camera_time()
        body, length = jpg, len(jpg)
        if mode == "corrupt":
            body = bytes(np.random.default_rng(i).integers(0, 256, len(jpg), dtype=np.uint8))
        elif mode == "truncated":
            body = jpg[: len(jpg) // 2]
        sec = int(stamp)
        head = (
            f"Content-Type: image/jpeg\r\nContent-Length: {length}\r\n"
            f"X-Timestamp: {sec}.{int((stamp - sec) * 1e6):06d}\r\n\r\n"
        ).encode()
        self._write(handler, f"\r\n--{self.boundary}\r\n".encode())
        self._write(handler, head)
        self._write(handler, body)
        handler.wfile.flush()
        if not mode:
            with self._lock:
                self.sent.append((i, float(f"{sec}.{int((stamp - sec) * 1e6):06d}"), jpg))

    def inject(self, what: str) -> None:
        """Make the next part ``'corrupt'`` (random bytes, right length) or ``'truncated'`` (half the bytes)."""
        if what not in ("corrupt", "truncated"):
            raise ValueError(f"unknown injection {what!r}")
        with self._lock:
            self._inject.append(what)

    def freeze(self) -> None:
        """Stop sending parts while keeping the connection open."""
        self._unfrozen.clear()

    def unfreeze(self) -> None:
        self._unfrozen.set()

    def kill(self) -> None:
        """The server dies: stop listening and close every connection (the port is kept for :meth:`revive`)."""
        self._stop.set()
        self._unfrozen.set()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        with self._lock:
            clients, handlers = list(self._clients), list(self._handlers)
            self._handlers.clear()
        for conn in clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in handlers:
            t.join(timeout=5.0)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def revive(self) -> MjpegServer:
        """Come back on the same port."""
        return self.start()

    def close(self) -> None:
        self.kill()

    def __enter__(self) -> MjpegServer:
        return self if self._httpd is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def serial_frame(jpeg: bytes) -> bytes:
    """One ETVR serial frame: header, uint16 LE length, JPEG bytes."""
    return SERIAL_HEADER + struct.pack("<H", len(jpeg)) + jpeg


class SerialPeer:
    """ETVR serial camera on a pseudo-terminal: open :attr:`path` with pyserial to read it."""

    def __init__(self, jpegs: Sequence[bytes], fps: float = 60.0) -> None:
        self.jpegs = list(jpegs)
        self.fps = fps
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.sent: list[tuple[int, float, bytes]] = []
        self._stop = threading.Event()
        self._running = threading.Event()
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._index = 0
        self._thread: threading.Thread | None = None

    def write(self, data: bytes, timeout: float = 10.0) -> None:
        """Write all of ``data`` to the master side (waits for the reader, never past ``timeout``)."""
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the serial reader did not drain the pty in time")
            if not select.select([], [self.master], [], min(remaining, 0.05))[1]:
                continue
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                continue
            view = view[n:]

    def next_frame(self) -> bytes:
        """The next frame of the clip in wire format (logged in :attr:`sent`)."""
        with self._lock:
            i = self._index
            self._index += 1
        jpg = self.jpegs[i % len(self.jpegs)]
        self.sent.append((i, time.monotonic(), jpg))
        return serial_frame(jpg)

    def queue(self, data: bytes) -> None:
        """Write ``data`` (garbage, a cut frame, a burst...) between two paced frames."""
        with self._lock:
            self._pending.append(data)

    def start(self) -> SerialPeer:
        """Stream the clip at ``fps`` from a thread (call :meth:`pause` / :meth:`resume` to control it)."""
        self._running.set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def _run(self) -> None:
        pacer = _Pacer(self.fps, self._stop)
        try:
            while pacer.wait():
                if not self._running.is_set():
                    continue
                with self._lock:
                    extra, self._pending = self._pending, []
                for data in extra:
                    self.write(data)
                self.write(self.next_frame())
        except (OSError, TimeoutError):
            pass

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> SerialPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m pyacq_etvr.testing_peers {mjpeg,serial} CLIP [--fps F] [--port P]``: a fake eye camera.

    Serves the clip as an OpenIris HTTP MJPEG camera (prints its URL) or an ETVR serial camera on a pty
    (prints the port path), so ``Camera(source=...)`` or ``pyacq-etvr run --left ...`` can be tried without
    hardware. Runs until interrupted (Ctrl-C / SIGTERM).
    """
    import argparse
    import signal
    import sys

    ap = argparse.ArgumentParser(prog="python -m pyacq_etvr.testing_peers", description=main.__doc__.split("\n")[0])
    ap.add_argument("kind", choices=("mjpeg", "serial"))
    ap.add_argument("clip", help="video file whose frames are served (JPEG-encoded)")
    ap.add_argument("--fps", type=float, default=60.0)
    ap.add_argument("--port", type=int, default=0, help="HTTP port (default: any free port)")
    ap.add_argument("--frames", type=int, default=300, help="frames of the clip to loop (default 300)")
    args = ap.parse_args(argv)
    if args.fps <= 0 or args.frames <= 0:
        ap.error("--fps and --frames must be positive")
    try:
        jpegs = clip_jpegs(args.clip, args.frames)
    except ValueError as exc:
        ap.error(str(exc))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    peer: MjpegServer | SerialPeer
    if args.kind == "mjpeg":
        peer = MjpegServer(jpegs, fps=args.fps, port=args.port).start()
        print(peer.url, flush=True)
    else:
        peer = SerialPeer(jpegs, fps=args.fps).start()
        print(peer.path, flush=True)
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        peer.close()
    print("stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
