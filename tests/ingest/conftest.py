"""Builders of good and hostile image files, and folders/archives of them."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DOG = "n02084071"  # dog.n.01
CAT = "n02121620"  # cat.n.01 (domestic cat is n02121808)
BIRD = "n01503061"  # bird.n.01


def photo(seed: int, size: tuple[int, int] = (320, 240), mode: str = "RGB") -> Image.Image:
    """A distinct, photo-like picture per seed (smooth gradients plus noise)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack(
        [
            (np.sin(x / (7 + seed % 13)) + 1) * 100 + rng.integers(0, 50),
            (np.cos(y / (5 + seed % 11)) + 1) * 100 + rng.integers(0, 50),
            ((x + y) % (31 + seed % 17)) * 6,
        ],
        axis=-1,
    )
    noise = rng.normal(0, 12, size=base.shape)
    arr = np.clip(base + noise, 0, 255).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    return im.convert(mode) if mode != "RGB" else im


def encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


def jpeg(seed: int, size: tuple[int, int] = (320, 240), **kw: object) -> bytes:
    return encode(photo(seed, size), "JPEG", quality=85, **kw)


def png(seed: int, size: tuple[int, int] = (320, 240)) -> bytes:
    return encode(photo(seed, size), "PNG")


def png_bomb(side: int = 30_000) -> bytes:
    """A valid 1-bit PNG of side x side zeros: ~100 KB on disk, 900 megapixels decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(side)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )  # fmt: skip


def png_bad_crc(seed: int) -> bytes:
    data = bytearray(png(seed))
    data[-20] ^= 0xFF  # inside the last IDAT's CRC or data, before IEND
    return bytes(data)


def animated_gif(seed: int) -> bytes:
    frames = [photo(seed + i, (120, 90)).convert("P") for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def cmyk_jpeg(seed: int) -> bytes:
    return encode(photo(seed).convert("CMYK"), "JPEG", quality=85)


def png16(seed: int) -> bytes:
    arr = (np.asarray(photo(seed).convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    return encode(Image.fromarray(arr), "PNG")


def exif_rotated_jpeg(seed: int, orientation: int = 6) -> bytes:
    im = photo(seed, (320, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(im, "JPEG", quality=85, exif=exif)


def multipage_tiff(seed: int) -> bytes:
    pages = [photo(seed + i, (100, 80)) for i in range(3)]
    out = io.BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=pages[1:])
    return out.getvalue()


def heic_like() -> bytes:
    """The start of an ISO-BMFF HEIC file (ftyp heic): enough to be recognised and refused."""
    return struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00mif1heic" + b"\x00" * 64


@pytest.fixture(scope="session")
def bomb_png() -> bytes:
    return png_bomb()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>'
HTML = b"<!DOCTYPE html><html><head><title>Not found</title></head><body>404</body></html>"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A private MEDIA_ROOT (and DATA_ROOT) per test, so stored files are the test's own."""
    media = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media), "base_url": "/media/"},
        },
    }
    settings.MEDIA_ROOT = str(media)
    settings.DATA_ROOT = tmp_path / "data"
    return media


# --- a local HTTP server for URL tests ---------------------------------------------------------

SERVER_HOST = "127.0.0.2"  # loopback, but not 127.0.0.1: the allow-list names only this one


class Routes(BaseHTTPRequestHandler):
    """/img/<seed>.jpg a JPEG; /status/<n>; /sleep (never answers in time); /big;
    /html-as-jpeg; /redirect?to=URL; /flaky/<key> (503 once, then a JPEG);
    /slow/<seed>.jpg (a JPEG after 0.2 s, counting concurrent requests)."""

    protocol_version = "HTTP/1.1"
    hits: dict[str, int] = {}
    in_flight = 0
    max_in_flight = 0
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:
        return None

    def _send(
        self, status: int, body: bytes, content_type: str = "image/jpeg", **headers: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        Routes.hits[path] = Routes.hits.get(path, 0) + 1
        try:
            if path.startswith("/img/"):
                self._send(200, jpeg(int(path[5:].split(".")[0])))
            elif path.startswith("/slow/"):
                with Routes.lock:
                    Routes.in_flight += 1
                    Routes.max_in_flight = max(Routes.max_in_flight, Routes.in_flight)
                try:
                    time.sleep(0.2)
                    self._send(200, jpeg(int(path[6:].split(".")[0])))
                finally:
                    with Routes.lock:
                        Routes.in_flight -= 1
            elif path.startswith("/status/"):
                code = int(path[8:].split("?")[0])
                self._send(code, b"nope", "text/plain")
            elif path == "/sleep":
                time.sleep(30)
            elif path == "/big":
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.end_headers()  # no Content-Length: the cap must hold while streaming
                for _ in range(64):
                    self.wfile.write(b"\xff" * 65536)
            elif path == "/html-as-jpeg":
                self._send(200, HTML, "image/jpeg")
            elif path.startswith("/redirect?to="):
                from urllib.parse import unquote

                self._send(302, b"", "text/plain", Location=unquote(path.split("=", 1)[1]))
            elif path.startswith("/flaky/"):
                if Routes.hits[path] == 1:
                    self._send(503, b"busy", "text/plain")
                else:
                    self._send(200, jpeg(4242))
            else:
                self._send(404, b"not found", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def http_server(settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A server on 127.0.0.2 that the ingest may reach (allow-list), with short timeouts."""
    server = ThreadingHTTPServer((SERVER_HOST, 0), Routes)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Routes.hits = {}
    Routes.in_flight = Routes.max_in_flight = 0
    settings.INGEST_URL_ALLOW_NETWORKS = [f"{SERVER_HOST}/32"]
    settings.INGEST_URL_READ_TIMEOUT = 1.0
    settings.INGEST_URL_TOTAL_TIMEOUT = 8.0
    settings.INGEST_URL_RETRIES = 2
    settings.INGEST_MAX_BYTES = 1_000_000
    try:
        yield f"http://{SERVER_HOST}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
