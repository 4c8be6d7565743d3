"""Decode one candidate image fully, once: validate it, hash it, and make its thumbnail.

The type comes from the bytes (magic numbers), never from a name or a Content-Type header.
A JPEG is decoded in draft mode (libjpeg's DCT scaling) straight to thumbnail size: every byte of
the stream is still entropy-decoded, so truncation and corruption are caught, at a fraction of the
cost of a full-size decode. The pHash is computed from the same thumbnail-sized image (after EXIF
orientation), so one decode serves both, and every image is hashed the same way. Thumbnails are
baseline JPEGs (libjpeg-turbo): about seven times cheaper to encode than WebP, even at libwebp's
fastest method, which made the thumbnail the dearest step of an ingest.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.fftpack  # imagehash imports it on its first pHash: here, with the worker's imports
from PIL import Image, ImageFile, UnidentifiedImageError

from curation.ingest.limits import Limits
from curation.ingest.magic import EXTENSIONS, PNG_SIGNATURE, is_text, sniff
from curation.ingest.reasons import IngestError, Reason

# Pillow must never "load what it can" of a truncated file: that is an error here.
ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.init()  # register every plugin, so `formats=` can name MPO and TIFF

# EXIF orientation -> the transpose that shows the picture upright (as ImageOps.exif_transpose).
ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
EXIF_ORIENTATION_TAG = 0x0112
THUMB_QUALITY = 85  # baseline JPEG, 4:2:0: ~6.5 KB for a 250x188 thumbnail


@dataclass
class Decoded:
    sha256: str
    format: str
    ext: str
    mode: str
    width: int
    height: int
    bytes: int
    frames: int
    orientation: int
    phash: int
    thumb: bytes
    problems: list[str] = field(default_factory=list)


def _refuse_by_kind(kind: str, data: bytes, allowed: frozenset[str], hint: str) -> None:
    if kind in EXTENSIONS:
        if kind not in allowed:
            raise IngestError(
                Reason.UNSUPPORTED_FORMAT,
                f"{kind} is not an allowed format (allowed: {', '.join(sorted(allowed))})",
            )
        return
    if kind == "svg":
        raise IngestError(
            Reason.VECTOR_IMAGE, "SVG is a vector drawing, not a raster image; rasterise it first"
        )
    if kind in ("HEIC", "AVIF", "JPEG 2000", "PDF", "PSD", "ICO", "ISO media (video?)"):
        raise IngestError(
            Reason.UNSUPPORTED_FORMAT,
            f"{kind} is not supported (allowed: {', '.join(sorted(allowed))}); convert it to JPEG",
        )
    if kind == "html":
        raise IngestError(Reason.NOT_AN_IMAGE, f"an HTML document, not an image{hint}")
    if kind in ("text", "xml"):
        raise IngestError(Reason.NOT_AN_IMAGE, f"{kind} content, not an image{hint}")
    if kind == "archive":
        raise IngestError(Reason.NOT_AN_IMAGE, f"an archive, not an image{hint}")
    raise IngestError(
        Reason.NOT_AN_IMAGE, f"unrecognised data, not an image (starts {data[:8].hex(' ')}){hint}"
    )


def check_png_crcs(data: bytes) -> None:
    """Walk a PNG's chunks and verify every CRC (Pillow does not check IDAT's)."""
    pos = len(PNG_SIGNATURE)
    end = len(data)
    while pos + 8 <= end:
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body_end = pos + 8 + length
        if body_end + 4 > end:
            raise IngestError(
                Reason.TRUNCATED, f"PNG is truncated inside its {ctype.decode('latin-1')} chunk"
            )
        (crc,) = struct.unpack(">I", data[body_end : body_end + 4])
        if zlib.crc32(data[pos + 4 : body_end]) != crc:
            name = ctype.decode("latin-1", "replace")
            raise IngestError(Reason.CORRUPT, f"PNG chunk {name} has a bad CRC (damaged file)")
        pos = body_end + 4
        if ctype == b"IEND":
            return
    raise IngestError(Reason.TRUNCATED, "PNG is truncated (no IEND chunk)")


@lru_cache(maxsize=8)
def _openers(allowed: frozenset[str]) -> list[str]:
    """Pillow plugins to try (MPO has no opener of its own: the JPEG plugin yields it)."""
    return sorted(f for f in allowed if f in Image.OPEN)


def _draft_scale(width: int, height: int, thumb: int) -> int:
    """Largest DCT scale (1/8..1) that still leaves the long side at least ~thumb pixels."""
    for scale in (8, 4, 2):
        if max(width, height) / scale >= thumb * 0.95:
            return scale
    return 1


def _to_display(im: Image.Image, problems: list[str]) -> Image.Image:
    """An RGB or L image of the first frame: alpha flattened on white, 16-bit scaled, CMYK."""
    mode = im.mode
    if mode in ("RGB", "L"):
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im)
        if mode == "F" or arr.dtype.kind == "f":
            arr = np.nan_to_num(arr.astype(np.float64))
            lo, hi = float(arr.min()), float(arr.max())
            scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        else:
            # 16-bit samples (PNG 16-bit grey comes in as I;16 or I): keep the top 8 bits.
            scaled = np.clip(arr.astype(np.int64), 0, 65535) >> 8
        problems.append(f"{mode} samples reduced to 8 bits")
        return Image.fromarray(scaled.astype(np.uint8), "L")
    if mode == "CMYK":
        problems.append("CMYK converted to RGB")
        return im.convert("RGB")
    if mode == "1":
        return im.convert("L")
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
        if mode == "RGB":
            return im
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            problems.append("transparency flattened onto white")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")  # YCbCr, LAB, HSV, RGBX...


def _phash_signed(im: Image.Image) -> int:
    """imagehash.phash of the thumbnail-sized picture, as a signed 64-bit integer (bits in
    imagehash's hex order). A box reduction first keeps at least 64 px a side (twice pHash's
    32 px input), which makes the LANCZOS step several times cheaper.

    The steps are imagehash.phash's own (greyscale, LANCZOS to 32x32, scipy's DCT-II on both
    axes, the 8x8 low frequencies against their median), written out so that the bits are the
    same while its per-call overhead (import statement, ImageHash object, np.median) is not
    paid; tests/ingest/test_decode.py checks the equality."""
    factor = max(1, min(im.size) // 64)
    small = im.reduce(factor) if factor > 1 else im
    pixels = np.asarray(small.convert("L").resize((32, 32), Image.Resampling.LANCZOS))
    low = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)[:8, :8].ravel()
    middle = np.partition(low, (31, 32))[31:33]
    # np.median of 64 values: the mean of the 32nd and 33rd (same float as (a + b) / 2).
    bits = np.packbits(low > (middle[0] + middle[1]) / 2)
    return int(bits.view(">i8")[0])


def encode_thumbnail(im: Image.Image) -> bytes:
    """The stored thumbnail of an RGB or L picture already at thumbnail size (curation.storage
    names its key and content type)."""
    out = io.BytesIO()
    im.save(out, "JPEG", quality=THUMB_QUALITY)
    return out.getvalue()


def decode_image(
    data: bytes, limits: Limits, *, content_type: str = "", sha256: str = ""
) -> Decoded:
    """Validate and decode `data`; raise IngestError with a reason for anything unusable.
    `sha256`, when the caller has already hashed `data`, is not computed again."""
    size = len(data)
    if size == 0:
        raise IngestError(Reason.EMPTY_FILE, "empty file (0 bytes)")
    if size > limits.max_bytes:
        raise IngestError(
            Reason.FILE_TOO_LARGE,
            f"{size:,} bytes is over the {limits.max_bytes:,}-byte limit (INGEST_MAX_BYTES)",
        )
    kind = sniff(data)
    hint = f" (served as {content_type})" if content_type else ""
    _refuse_by_kind(kind, data, limits.allowed_formats, hint)
    if kind == "PNG":
        check_png_crcs(data)
    problems: list[str] = []
    # Pillow warns past MAX_IMAGE_PIXELS and refuses past twice that; the warning is made an error.
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    with warnings.catch_warnings():
        # A decompression bomb is an error, never a warning.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=_openers(limits.allowed_formats))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise IngestError(
                Reason.DECOMPRESSION_BOMB, f"decompression bomb refused (INGEST_MAX_PIXELS): {exc}"
            ) from exc
        except UnidentifiedImageError as exc:
            if is_text(data):  # e.g. a text file that happens to start with "BM"
                _refuse_by_kind("text", data, limits.allowed_formats, hint)
            raise IngestError(Reason.CORRUPT, f"{kind} header cannot be parsed") from exc
        except (SyntaxError, OSError, ValueError, struct.error, EOFError) as exc:
            if is_text(data):  # e.g. a text file that happens to start with "BM"
                _refuse_by_kind("text", data, limits.allowed_formats, hint)
            raise IngestError(Reason.CORRUPT, f"{kind} header is damaged: {exc}") from exc
        fmt = im.format or kind
        if fmt not in limits.allowed_formats:
            raise IngestError(Reason.UNSUPPORTED_FORMAT, f"{fmt} is not an allowed format")
        width, height = im.size
        if width * height > limits.max_pixels:
            raise IngestError(
                Reason.DECOMPRESSION_BOMB,
                f"{width}x{height} = {width * height:,} pixels is over the "
                f"{limits.max_pixels:,}-pixel limit (decompression bomb guard, INGEST_MAX_PIXELS)",
            )
        if min(width, height) < limits.min_side:
            raise IngestError(
                Reason.TOO_SMALL,
                f"{width}x{height} is smaller than {limits.min_side} px on a side "
                "(INGEST_MIN_SIDE)",
            )
        mode = im.mode
        frames = int(getattr(im, "n_frames", 1) or 1)
        if frames > 1:
            what = "pages" if fmt == "TIFF" else "frames"
            problems.append(f"{frames} {what}: the first is used")
        try:
            orientation = int(im.getexif().get(EXIF_ORIENTATION_TAG, 1) or 1)
        except Exception:  # a broken EXIF block does not make a broken picture
            orientation = 1
            problems.append("EXIF block unreadable; orientation ignored")
        if orientation not in range(1, 9):
            orientation = 1
        try:
            if fmt in ("JPEG", "MPO"):
                scale = _draft_scale(width, height, limits.thumb_size)
                if scale > 1:
                    im.draft(None, (max(1, width // scale), max(1, height // scale)))
            im.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise IngestError(Reason.DECOMPRESSION_BOMB, f"decompression bomb: {exc}") from exc
        except OSError as exc:
            text = str(exc)
            if "truncated" in text or "premature" in text.lower() or "end of" in text.lower():
                raise IngestError(Reason.TRUNCATED, f"{fmt} data is truncated: {text}") from exc
            raise IngestError(Reason.CORRUPT, f"{fmt} data cannot be decoded: {text}") from exc
        except (SyntaxError, ValueError, struct.error, EOFError, IndexError, zlib.error) as exc:
            raise IngestError(Reason.CORRUPT, f"{fmt} data cannot be decoded: {exc}") from exc
    shown = _to_display(im, problems)
    transpose = ORIENTATION_TRANSPOSE.get(orientation)
    if transpose is not None:
        shown = shown.transpose(transpose)
        if orientation >= 5:
            width, height = height, width
        problems.append(f"EXIF orientation {orientation} applied")
    shown.thumbnail((limits.thumb_size, limits.thumb_size), Image.Resampling.LANCZOS)
    phash = _phash_signed(shown)
    thumb = encode_thumbnail(shown)
    return Decoded(
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        format=fmt,
        ext=EXTENSIONS[fmt],
        mode=mode,
        width=width,
        height=height,
        bytes=size,
        frames=frames,
        orientation=orientation,
        phash=phash,
        thumb=thumb,
        problems=problems,
    )
