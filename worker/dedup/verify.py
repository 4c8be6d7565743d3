"""Pixel verification of a candidate duplicate pair, on the stored thumbnails.

The embedding and pHash searches propose pairs; many proposals are different pictures built from
one template (an 8 and a 9 of clubs, one icon with two emblems, a jigsaw piece with one tab
turned) that no global descriptor can tell from a resized copy. A pair is confirmed when one
picture, placed on the other by a scale, a shift and optionally a mirror, matches it everywhere
up to a brightness/contrast change:

1. both thumbnails to 128 px on the long side (RGB, float32), lightly blurred;
2. placement: identity first (same aspect ratio); else phase correlation at 64 px over 9 scales
   (0.8-1.25) and both mirrorings, best two peaks kept;
3. Lucas-Kanade (Gauss-Newton on scale and shift, gain/offset refitted each step) at 128 px;
4. b ~ clip(alpha * a + beta), one gain for the three channels and an offset per channel,
   fitted symmetrically on unsaturated pixels, each pixel's residual the smaller of predicting b
   from a and a from b (brightness and contrast edits, clipping included, whichever picture
   was edited); then the residual's mean over every 7x7 window: the largest window mean (grey
   levels) is the pair's `diff`. A different emblem, an added pip or text shows as one window
   far above the resampling and JPEG noise of a true copy. The verdict does not depend on the
   order of the two pictures (verify_pair puts them in one order).
5. two vetoes on a placement, whatever its `diff`: a fitted gain outside
   [ALPHA_MIN, 1 / ALPHA_MIN] (a thick black circle "explained" by a thin grey ring, a blue flag
   by a red one: no brightness/contrast edit halves or doubles contrast), and a residual that is
   large against the pictures' ink (MAX_INK_RATIO: a 6 px icon on a wide white canvas leaves
   every 7x7 window small whatever it shows). On bench_dedup's planted set these two removed 17
   of the 21 wrong pairs the check used to accept, and none of its 366 right ones.
6. a small drawing (ink spanning <= 48 px of the 128 px frame in both pictures) that passed is
   looked at again at the thumbnail's own resolution, cropped to the ink (_fine_check): at
   128 px a 20 px symbol's inner detail is a blur.
7. a pair no upright placement passes is tried turned (_try_turned): the best upright
   placement of each mirroring turned about b's centre by -10..10 degrees at half size, the
   best-correlated angle refined with the rotation free (_refine_turned) and judged as above.
   A scanned or re-photographed copy is rarely square to its original; upright, bench_dedup's
   copies turned by 5 degrees left windows 50-235 grey levels off (rotate5 recall 0.25). With
   it: 0.80, the same 3 wrong pairs, 7% more checking time (only refused pairs pay).

bench_dedup calibrates the acceptance limit (DEDUP_VERIFY_MAX_DIFF). Pure numpy/scipy; 11.5 ms
a pair on average on one core of a 2-core Xeon (a pair that passes costs about half as much as
one that does not, for which every placement is tried). A torch port batching 64 pairs per
operation was no faster; refining at half size first saved 5% and changed 20 verdicts in 2,000.
Callers should pin BLAS to one thread (threadpoolctl): the small matrix products here get
slower, not faster, with several.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image
from scipy import fft as sfft
from scipy.ndimage import gaussian_filter, uniform_filter

SIZE = 128  # long side of the compared pictures
CANVAS = 128  # phase-correlation canvas for the 64 px level
SCALES = np.exp(np.linspace(np.log(0.8), np.log(1.25), 9))
WINDOW = 7
ALPHA_MIN = 0.5  # per-channel gain kept within [0.5, 2]
REL_SCALE = 60.0
MIN_OVERLAP = 0.85  # share of the smaller picture that must lie on the other
MAX_INK_RATIO = 1.5  # summed residual / summed deviation from the background, either picture
SMALL_DRAWING = 48  # ink spanning at most this many px of the 128 px frame: checked again finer
INK_LEVEL = 8.0  # grey levels from the blurred background that count as ink (a drawing's extent)
FINE_MARGIN = 8  # px of the finer picture kept around the ink
# Rotations searched when no upright placement passes (step 7): a scanned or photographed copy
# is rarely square to its original.
# A picture thinner than this at 128 px (a 4000 x 32 strip) has no second dimension to place
# by: it is compared as framed, or refused.
MIN_PLACEABLE = 8
MAX_ROTATION = np.deg2rad(10.0)
ROTATIONS = np.deg2rad(np.arange(-10.0, 10.5, 1.0))
_GREY = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass
class Picture:
    """One thumbnail prepared for verification (built once, reused across its pairs)."""

    rgb: np.ndarray  # blurred RGB, 128 px long side
    grey: np.ndarray  # its luminance
    small: np.ndarray  # luminance at half size (placement search)
    background: float
    ink: float  # mean deviation from the background: how much of the frame the drawing fills
    # A small drawing (a 20 px symbol on a wide canvas) is a few blurred pixels at 128 px, where
    # its inner detail is gone: `fine` holds it at the thumbnail's own resolution, cropped to the
    # ink, for a second look (_fine_check). `fine_at` = (top, left, width of the whole picture,
    # its px per px of this picture).
    fine: Picture | None = None
    fine_at: tuple[int, int, int, float] = (0, 0, 0, 1.0)
    _fft: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_image(cls, im: Image.Image) -> Picture:
        im = im.convert("RGB")
        s = SIZE / max(im.size)
        big = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.BILINEAR)
        picture = cls._of(np.asarray(big, np.float32))
        if s < 1:
            picture._crop_fine(im, s)
        return picture

    @classmethod
    def _of(cls, pixels: np.ndarray) -> Picture:
        rgb = gaussian_filter(pixels, (1.0, 1.0, 0))
        grey = rgb @ _GREY
        h, w = grey.shape
        small = _resize(grey, 0.5) if min(h, w) >= 4 else grey
        background = float(np.median(grey))
        ink = float(np.abs(grey - background).mean())
        return cls(rgb=rgb, grey=grey, small=small, background=background, ink=ink)

    def _crop_fine(self, im: Image.Image, s: float) -> None:
        rows, cols = _ink_pixels(self.grey, self.background)
        if len(rows) == 0:
            return
        if max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 > SMALL_DRAWING:
            return
        top = max(0, int(rows.min() / s) - FINE_MARGIN)
        left = max(0, int(cols.min() / s) - FINE_MARGIN)
        bottom = min(im.height, int((rows.max() + 1) / s) + FINE_MARGIN + 1)
        right = min(im.width, int((cols.max() + 1) / s) + FINE_MARGIN + 1)
        self.fine = Picture._of(np.asarray(im.crop((left, top, right, bottom)), np.float32))
        self.fine_at = (top, left, im.width, 1 / s)

    def spectrum(self) -> np.ndarray:
        if "a" not in self._fft:
            self._fft["a"] = sfft.rfft2(_canvas(self.small, self.background))
        return self._fft["a"]

    def spectra(self) -> list[tuple[bool, float, np.ndarray]]:
        """(mirrored, scale, spectrum) of this picture at every searched scale."""
        if "b" not in self._fft:
            out = []
            for mirrored in (False, True):
                g = self.small[:, ::-1] if mirrored else self.small
                for s in SCALES:
                    spectrum = sfft.rfft2(_canvas(_resize(g, s), self.background))
                    out.append((mirrored, float(s), spectrum))
            self._fft["b"] = out
        return self._fft["b"]


@dataclass
class Verdict:
    ok: bool
    diff: float  # largest 7x7 mean residual, grey levels (inf when no placement was found)
    scale: float = 1.0
    mirrored: bool = False
    contrast: float = 0.0  # largest 7x7 mean deviation from the background, either picture
    # why the best placement was refused despite its diff: "gain", "ink", "fine" (passed at
    # 128 px, failed on a small drawing's finer crop), or "thin" (a strip framed unlike the other
    # picture: nothing to place it by)
    veto: str = ""
    # (ty, tx) of the placement in the 128 px frame of the picture the other was placed on
    # (verify_pair's reordered a): what _fine_check carries over
    shift: tuple[float, float] = (0.0, 0.0)
    # radians, counter-clockwise on screen positive: the turn that places b (mirrored first
    # when `mirrored`) onto a (step 7); in the caller's order, as scale is
    rotation: float = 0.0


def _resize(g: np.ndarray, s: float) -> np.ndarray:
    h, w = g.shape
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(g).resize(size, Image.BILINEAR), np.float32)


def _canvas(g: np.ndarray, background: float) -> np.ndarray:
    out = np.zeros((CANVAS, CANVAS), np.float32)
    h, w = min(g.shape[0], CANVAS), min(g.shape[1], CANVAS)
    out[:h, :w] = g[:h, :w] - background
    return out


def _taps(n_out: int, n_in: int, s: float, t: float):  # type: ignore[no-untyped-def]
    """Bilinear sampling of a source axis at (i - t) / s: the two source indices and the weight
    of the second per output index, which output indices fall inside the source, and the
    sampled (clipped) coordinates."""
    c = (np.arange(n_out, dtype=np.float32) - t) / s
    valid = (c >= 0) & (c <= n_in - 1)
    c = np.clip(c, 0, n_in - 1)
    i0 = np.floor(c).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    f = (c - i0).astype(np.float32)
    return i0, i1, f, valid, c


def _warp(img: np.ndarray, s: float, ty: float, tx: float, shape: tuple[int, ...]):  # type: ignore[no-untyped-def]
    """`img` scaled by s and shifted by (ty, tx) into a frame of `shape`: separable bilinear
    sampling, rows then columns, two taps each (a dense matmul per axis cost n^3)."""
    y0, y1, fy, vy, cy = _taps(shape[0], img.shape[0], s, ty)
    x0, x1, fx, vx, cx = _taps(shape[1], img.shape[1], s, tx)
    extra = (None,) * (img.ndim - 2)
    wy = fy[(slice(None), None, *extra)]
    rows = img[y0] * (1 - wy) + img[y1] * wy
    wx = fx[(None, slice(None), *extra)]
    out = rows[:, x0] * (1 - wx) + rows[:, x1] * wx
    return out, vy[:, None] & vx[None, :], cy, cx


def _phase_peak(fa: np.ndarray, fb: np.ndarray) -> tuple[float, int, int]:
    r = fa * np.conj(fb)
    r /= np.abs(r) + 1e-6
    corr = sfft.irfft2(r, s=(CANVAS, CANVAS))
    i = int(np.argmax(corr))
    dy, dx = divmod(i, CANVAS)
    dy = dy - CANVAS if dy > CANVAS // 2 else dy
    dx = dx - CANVAS if dx > CANVAS // 2 else dx
    return float(corr.flat[i]), dy, dx


def _fit_error(av: np.ndarray, bv: np.ndarray) -> np.ndarray:
    """bv less its least-squares gain and offset fit from av: what a placement step reduces."""
    am, bm = av.mean(), bv.mean()
    ac = av - am
    alpha = float(ac @ (bv - bm)) / max(float(ac @ ac), 1e-3 * len(ac))
    return bv - (alpha * av + (bm - alpha * am))


def _refine(a: np.ndarray, b: np.ndarray, s: float, ty: float, tx: float, iters: int = 8):  # type: ignore[no-untyped-def]
    """Gauss-Newton on (scale, ty, tx) with gain and offset refitted at each step."""
    for _ in range(iters):
        bw, valid, cy, cx = _warp(b, s, ty, tx, a.shape)
        if valid.sum() < 64:
            return None
        gy, gx = np.gradient(bw)
        err = _fit_error(a[valid], bw[valid])
        gyv, gxv = gy[valid], gx[valid]
        # Rows of the Jacobian (d/ds, d/dty, d/dtx), contiguous: J J^T is one small matmul.
        jac = np.empty((3, len(err)), np.float32)
        np.multiply(gyv, np.broadcast_to(cy[:, None], a.shape)[valid], out=jac[0])
        jac[0] += gxv * np.broadcast_to(cx[None, :], a.shape)[valid]
        np.negative(jac[0], out=jac[0])
        np.negative(gyv, out=jac[1])
        np.negative(gxv, out=jac[2])
        step = np.linalg.solve(jac @ jac.T + 1e-3 * np.eye(3, dtype=np.float32), jac @ err)
        s, ty, tx = s - float(step[0]), ty - float(step[1]), tx - float(step[2])
        if not 0.6 < s < 1.6:
            return None
        if abs(step[0]) < 1e-4 and abs(step[1]) < 0.02 and abs(step[2]) < 0.02:
            break
    return s, ty, tx


def _warp_turned(
    img: np.ndarray, s: float, theta: float, ty: float, tx: float, shape: tuple[int, ...]
):  # type: ignore[no-untyped-def]
    """`img` scaled by s, turned by theta and shifted by (ty, tx) into a frame of `shape`
    (p = s R(theta) q + t): bilinear sampling at q = R(-theta) (p - t) / s. Not separable, so
    a gather per corner; used only for turned placements."""
    c, sn = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    i = np.arange(shape[0], dtype=np.float32)[:, None] - np.float32(ty)
    j = np.arange(shape[1], dtype=np.float32)[None, :] - np.float32(tx)
    qy, qx = (c * i + sn * j) / np.float32(s), (c * j - sn * i) / np.float32(s)
    h, w = img.shape[:2]
    valid = (qy >= 0) & (qy <= h - 1) & (qx >= 0) & (qx <= w - 1)
    qy, qx = np.clip(qy, 0, h - 1), np.clip(qx, 0, w - 1)
    y0, x0 = np.floor(qy).astype(np.int64), np.floor(qx).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = qy - y0, qx - x0
    if img.ndim == 3:
        fy, fx = fy[..., None], fx[..., None]
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return top * (1 - fy) + bottom * fy, valid, qy, qx


def _placed(img: np.ndarray, s: float, theta: float, ty: float, tx: float, shape: tuple[int, ...]):  # type: ignore[no-untyped-def]
    if theta == 0.0:
        return _warp(img, s, ty, tx, shape)
    return _warp_turned(img, s, theta, ty, tx, shape)


def _inverse(s: float, theta: float, ty: float, tx: float) -> tuple[float, float, float, float]:
    """The placement of a on b given b's on a: q = R(-theta) (p - t) / s."""
    c, sn = np.cos(theta), np.sin(theta)
    return 1 / s, -theta, -(c * ty + sn * tx) / s, -(c * tx - sn * ty) / s


def _refine_turned(
    a: np.ndarray, b: np.ndarray, s: float, theta: float, ty: float, tx: float, iters: int = 10
):  # type: ignore[no-untyped-def]
    """Gauss-Newton on (scale, rotation, ty, tx), gain and offset refitted at each step."""
    for _ in range(iters):
        bw, valid, qy, qx = _warp_turned(b, s, theta, ty, tx, a.shape)
        if valid.sum() < 64:
            return None
        gy, gx = np.gradient(bw)
        err = _fit_error(a[valid], bw[valid])
        c, sn = np.float32(np.cos(theta)), np.float32(np.sin(theta))
        # b's own gradient at q, from the placed picture's: grad_q b = s R(-theta) grad_p bw
        by = s * (c * gy[valid] + sn * gx[valid])
        bx = s * (c * gx[valid] - sn * gy[valid])
        y, x = qy[valid], qx[valid]
        jac = np.stack(
            [
                -(by * y + bx * x) / s,  # d/ds
                by * x - bx * y,  # d/dtheta
                -(by * c - bx * sn) / s,  # d/dty
                -(by * sn + bx * c) / s,  # d/dtx
            ]
        ).astype(np.float32)
        step = np.linalg.solve(jac @ jac.T + 1e-3 * np.eye(4, dtype=np.float32), jac @ err)
        s, theta = s - float(step[0]), theta - float(step[1])
        ty, tx = ty - float(step[2]), tx - float(step[3])
        if not 0.6 < s < 1.6 or abs(theta) > MAX_ROTATION:
            return None
        if abs(step[0]) < 1e-4 and abs(step[1]) < 1e-4 and max(abs(step[2]), abs(step[3])) < 0.02:
            break
    return s, theta, ty, tx


@dataclass
class _Residual:
    diff: float  # largest 7x7 mean residual
    contrast: float  # largest 7x7 mean deviation from the background, either picture
    ink_ratio: float  # summed residual / summed deviation from the background
    gain_ok: bool  # every channel's fitted gain within [ALPHA_MIN, 1 / ALPHA_MIN]


_NO_OVERLAP = _Residual(float("inf"), 0.0, float("inf"), False)


def _channel_mean(x: np.ndarray) -> np.ndarray:
    # einsum: a third of ndarray.mean(-1)'s time on a trailing axis of 3, same sums
    return np.einsum("ijk->ij", x) / np.float32(x.shape[-1])


def _background(img: np.ndarray, valid: np.ndarray) -> np.ndarray:
    # Every 4th overlapping pixel: the median of a mostly flat background barely moves, and the
    # full-size median was a fifth of the check's time.
    return np.median(img[::2, ::2][valid[::2, ::2]], axis=0)


def _gain_offset(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> tuple[float, np.ndarray, bool]:
    """b ~ clip(alpha * a + beta_c): one gain for the three channels (a brightness/contrast edit
    scales them alike; a recolouring does not) and an offset per channel, fitted on the pixels
    saturated in neither picture, symmetrically (reduced major axis: neither picture is the
    noise-free one). Returns alpha clamped to [ALPHA_MIN, 1 / ALPHA_MIN], beta, and whether
    alpha lay within that range."""
    # Sums over the kept pixels as weighted einsums: boolean indexing copied the arrays.
    keep = valid & ((a > 3) & (a < 252) & (b > 3) & (b < 252)).all(-1)
    n = int(keep.sum())
    if n < 16:
        keep, n = valid, max(int(valid.sum()), 1)
    w = keep.astype(np.float64)
    mx = np.einsum("ijk,ij->k", a, w) / n
    my = np.einsum("ijk,ij->k", b, w) / n
    sxx = float(np.einsum("ijk,ijk,ij->", a, a, w)) - n * float(mx @ mx)
    syy = float(np.einsum("ijk,ijk,ij->", b, b, w)) - n * float(my @ my)
    cov = float(np.einsum("ijk,ijk,ij->", a, b, w)) - n * float(mx @ my)
    sx, sy = np.sqrt(max(sxx, 0.0)), np.sqrt(max(syy, 0.0))
    alpha = (sy / sx if cov >= 0 else -sy / sx) if sx > 1 and sy > 1 else 1.0
    # Brightness/contrast edits keep the gain near 1; a gain near 0 would "explain" any faint
    # picture by a flat one.
    gain_ok = ALPHA_MIN <= alpha <= 1 / ALPHA_MIN
    alpha = min(max(alpha, ALPHA_MIN), 1 / ALPHA_MIN)
    return alpha, (my - alpha * mx).astype(np.float32), gain_ok


def _residual(
    dst: np.ndarray,
    src: np.ndarray,
    s: float,
    ty: float,
    tx: float,
    limit: float,
    theta: float = 0.0,
) -> _Residual:
    """`src` placed on `dst` (both blurred RGB), compared. Each pixel's residual is the smaller of
    predicting src from dst and dst from src: whichever picture an edit clipped (pale areas
    brightened to white), the other predicts it, so the order of the two does not matter (a
    brightened copy ingested before its original was refused when only one way was tried).
    Past `limit` the diff is returned alone: the caller refuses the placement anyway."""
    bw, valid, _, _ = _placed(src, s, theta, ty, tx, dst.shape)
    overlap = valid.sum() / min(dst.shape[0] * dst.shape[1], src.shape[0] * src.shape[1] * s * s)
    if overlap < MIN_OVERLAP:  # a placement that pushes content off the other picture
        return _NO_OVERLAP
    alpha, beta, gain_ok = _gain_offset(dst, bw, valid)
    scaled = dst * np.float32(alpha)
    rb = np.abs(bw - np.clip(scaled + beta, 0, 255))
    # alpha * |dst - clip((bw - beta) / alpha)|, without the division
    ra = np.abs(scaled - np.clip(bw - beta, 0, 255 * alpha))
    r = _channel_mean(np.minimum(rb, ra)) * valid
    count = uniform_filter(valid.astype(np.float32), WINDOW)
    local = uniform_filter(r, WINDOW) / np.maximum(count, 1e-3)
    local[count < 0.5] = 0  # windows mostly outside the overlap
    diff = float(local.max())
    if diff > limit:
        return _Residual(diff, 0.0, 0.0, gain_ok)
    contrast = 0.0
    ink = np.zeros_like(r)
    for img in (dst, bw):
        dev = _channel_mean(np.abs(img - _background(img, valid))) * valid
        np.maximum(ink, dev, out=ink)
        dev = uniform_filter(dev, WINDOW) / np.maximum(count, 1e-3)
        dev[count < 0.5] = 0
        contrast = max(contrast, float(dev.max()))
    # The mean of the two directions, not their per-pixel minimum (which would soften the veto).
    both = float(np.einsum("ijk,ij->", rb + ra, valid.astype(np.float32))) / 6.0
    ink_ratio = both / max(float(ink.sum()), 1.0)
    return _Residual(diff, contrast, ink_ratio, gain_ok)


def _try(
    a: Picture,
    b: Picture,
    mirrored: bool,
    s: float,
    ty: float,
    tx: float,
    max_diff: float,
    theta: float | None = None,
) -> Verdict | None:
    """b placed on a from (s, ty, tx), refined and judged; turned too when `theta` is given
    (the start's rotation)."""
    grey_b = np.ascontiguousarray(b.grey[:, ::-1]) if mirrored else b.grey
    if min(a.grey.shape + grey_b.shape) < MIN_PLACEABLE:
        placed = (s, 0.0, ty, tx)  # too thin for gradients: judged where it was put
    elif theta is None:
        placed = _refine(a.grey, grey_b, s, ty, tx)
        placed = None if placed is None else (placed[0], 0.0, placed[1], placed[2])
    else:
        placed = _refine_turned(a.grey, grey_b, s, theta, ty, tx)
    if placed is None:
        return None
    s2, th2, ty2, tx2 = placed
    b_rgb = np.ascontiguousarray(b.rgb[:, ::-1]) if mirrored else b.rgb
    # Both ways: b on a, then a on b (the inverse placement). One way alone passes a picture
    # shrunk onto a plain part of the other.
    fwd = _residual(a.rgb, b_rgb, s2, ty2, tx2, max_diff, th2)
    if fwd.diff > max_diff:  # the scaling below only raises diff: refused either way
        return Verdict(ok=False, diff=fwd.diff, scale=s2, mirrored=mirrored, shift=(ty2, tx2),
                       rotation=th2)  # fmt: skip
    s3, th3, ty3, tx3 = _inverse(s2, th2, ty2, tx2)
    back = _residual(b_rgb, a.rgb, s3, ty3, tx3, max_diff, th3)
    diff, contrast = max(fwd.diff, back.diff), max(fwd.contrast, back.contrast)
    # Judged relative to the pictures' own contrast: thin faint lines leave small residuals
    # whatever they draw, so a residual near the contrast itself is no match.
    diff = max(diff, diff * REL_SCALE / max(contrast, 1.0))
    veto = ""
    if not (fwd.gain_ok and back.gain_ok):
        veto = "gain"
    elif max(fwd.ink_ratio, back.ink_ratio) > MAX_INK_RATIO:
        veto = "ink"
    return Verdict(
        ok=False, diff=diff, scale=s2, mirrored=mirrored, contrast=contrast, veto=veto,
        shift=(ty2, tx2), rotation=th2,
    )  # fmt: skip


def _try_turned(a: Picture, b: Picture, uprights: list[Verdict], max_diff: float) -> Verdict | None:
    """Step 7: each upright placement (one per mirroring) turned about b's centre by each of
    ROTATIONS at half size; only the best-correlated (mirroring, angle) is refined at full
    size with the rotation free, so a refused pair pays for one turned refinement at most.
    None when the best is upright (nothing new to try)."""
    ref = a.small - a.small.mean()
    best, best_score, best_start = None, -np.inf, (0.0, 0.0)
    for upright in uprights:
        g = b.small[:, ::-1] if upright.mirrored else b.small
        s = upright.scale
        qc = np.array([(g.shape[0] - 1) / 2, (g.shape[1] - 1) / 2])
        pc = s * qc + np.array(upright.shift) / 2  # b's centre on a, at half size
        for theta in ROTATIONS:
            c, sn = np.cos(theta), np.sin(theta)
            t = pc - s * np.array([c * qc[0] - sn * qc[1], sn * qc[0] + c * qc[1]])
            bw, valid, _, _ = _warp_turned(g, s, float(theta), t[0], t[1], a.small.shape)
            if valid.sum() < 16:
                continue
            x, y = ref[valid], bw[valid] - bw[valid].mean()
            score = float(x @ y) / max(float(np.sqrt((x @ x) * (y @ y))), 1e-6)
            if score > best_score:
                best, best_score, best_start = (upright, float(theta)), score, (t[0], t[1])
    if best is None or best[1] == 0.0:
        return None
    upright, theta = best
    return _try(a, b, upright.mirrored, upright.scale, 2 * best_start[0], 2 * best_start[1],
                max_diff, theta=theta)  # fmt: skip


def _better(v: Verdict | None, best: Verdict | None) -> bool:
    """A placement without a veto beats one with; then the smaller diff wins."""
    if v is None:
        return False
    if best is None:
        return True
    return (bool(v.veto), v.diff) < (bool(best.veto), best.diff)


def _passes(v: Verdict | None, max_diff: float) -> bool:
    return v is not None and not v.veto and v.diff <= max_diff


def verify_pair(a: Picture, b: Picture, *, max_diff: float, mirror: bool = True) -> Verdict:
    """Whether b is a, rescaled/shifted/cropped/padded (and mirrored when `mirror`), up to a
    brightness/contrast change: every 7x7 window within `max_diff` grey levels, and no veto
    (see the module's step 5). A `diff` above `max_diff` is a lower bound: the search stops
    comparing a placement as soon as it cannot pass."""
    if b.ink > a.ink:
        # One order for every pair, so the verdict does not depend on which picture came
        # first: the placement is refined from the picture whose drawing fills more of its
        # frame (a crop onto its original, an original onto its padded copy), the better way
        # round on bench_dedup's crops and pads.
        v = verify_pair(b, a, max_diff=max_diff, mirror=mirror)
        # the inverse placement (a mirror turns the other way round: M R(-t) = R(t) M)
        v.scale, v.rotation = 1 / v.scale, v.rotation if v.mirrored else -v.rotation
        return v
    best: Verdict | None = None
    ha, wa = a.grey.shape
    hb, wb = b.grey.shape
    if abs(ha / wa - hb / wb) < 0.05:  # same framing: try the identity placement first
        s = wa / wb if wa >= ha else ha / hb
        best = _try(a, b, False, s, 0.0, 0.0, max_diff)
        if best is not None and _passes(best, max_diff):
            return _fine_check(a, b, best, max_diff, mirror)
    if min(ha, wa, hb, wb) < MIN_PLACEABLE:  # no placement search on a strip
        if best is None:
            return Verdict(ok=False, diff=float("inf"), veto="thin")
        return best
    peaks = []
    fa = a.spectrum()
    for mirrored, s, fb in b.spectra():
        if mirrored and not mirror:
            continue
        peak, dy, dx = _phase_peak(fa, fb)
        peaks.append((peak, mirrored, s, 2.0 * dy, 2.0 * dx))
    peaks.sort(key=lambda p: -p[0])
    tried = [best] if best is not None else []
    for _, mirrored, s, ty, tx in peaks[:2]:
        v = _try(a, b, mirrored, s, ty, tx, max_diff)
        if v is not None:
            tried.append(v)
        if _better(v, best):
            best = v
        if _passes(best, max_diff):
            break
    if best is None:
        return Verdict(ok=False, diff=float("inf"))
    if not _passes(best, max_diff):
        # Turned, from the best upright placement of each mirroring (a turned copy can leave
        # the other mirroring's upright placement ahead), or from the best one mirrored.
        uprights = []
        for mirrored in (False, True) if mirror else (False,):
            starts = [v for v in tried if v.mirrored == mirrored]
            uprights.append(min(starts, key=lambda v: v.diff) if starts
                            else replace(best, mirrored=mirrored))  # fmt: skip
        turned = _try_turned(a, b, uprights, max_diff)
        if _better(turned, best):
            best = turned
    if _passes(best, max_diff):
        return _fine_check(a, b, best, max_diff, mirror)
    return best


def _fine_check(a: Picture, b: Picture, coarse: Verdict, max_diff: float, mirror: bool) -> Verdict:
    """A placement that passed at 128 px, checked again on the small drawings' finer crops
    (Picture.fine) when both have one: the coarse placement carried over and, since a
    near-symmetric symbol passes coarse mirrored or not, the other mirroring from the ink
    centres; each refined, and the better one's diff judged against the same limit (the vetoes
    were judged at 128 px). On bench_dedup it refuses two different 20 px plant symbols whose
    dots the 128 px blur erased (73 at the finer look) and keeps every planted copy of the
    drawings it applies to (verdicts 1.6-10.6, two rotated copies 17.6 and 22.3; limit 25)."""
    fa, fb = a.fine, b.fine
    if fa is None or fb is None:
        coarse.ok = True
        return coarse
    top_a, left_a, _, per_a = a.fine_at
    top_b, left_b, width_b, per_b = b.fine_at
    s = coarse.scale * per_a / per_b  # b's fine px -> a's fine px
    best: Verdict | None = None
    for mirrored in (coarse.mirrored, not coarse.mirrored) if mirror else (coarse.mirrored,):
        theta = None
        if mirrored == coarse.mirrored:
            # b(j) lands on a(i) at i = s R j + t (128 px); in the crops' own pixels:
            left = width_b - left_b - fb.grey.shape[1] if mirrored else left_b
            c, sn = np.cos(coarse.rotation), np.sin(coarse.rotation)
            ty = coarse.shift[0] * per_a - top_a + s * (c * top_b - sn * left)
            tx = coarse.shift[1] * per_a - left_a + s * (sn * top_b + c * left)
            theta = coarse.rotation or None
        else:  # no placement to carry over: the crops' ink centres on each other
            (ya, xa), (yb, xb) = _ink_centre(fa), _ink_centre(fb, mirrored=mirrored)
            ty, tx = ya - s * yb, xa - s * xb
        v = _try(fa, fb, mirrored, s, ty, tx, max_diff, theta)
        if v is not None and (best is None or v.diff < best.diff):
            best = v
    # The verdict's diff is the worse of the two looks, so that a smaller limit judges it alike.
    coarse.diff = max(coarse.diff, best.diff if best is not None else float("inf"))
    coarse.ok = coarse.diff <= max_diff
    coarse.veto = "" if coarse.ok else "fine"
    return coarse


def _ink_pixels(grey: np.ndarray, background: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the pixels that count as the drawing (INK_LEVEL off the background)."""
    return np.nonzero(np.abs(grey - background) > INK_LEVEL)


def _ink_centre(p: Picture, *, mirrored: bool = False) -> tuple[float, float]:
    grey = p.grey[:, ::-1] if mirrored else p.grey
    rows, cols = _ink_pixels(grey, p.background)
    if len(rows) == 0:
        return grey.shape[0] / 2, grey.shape[1] / 2
    return float(rows.mean()), float(cols.mean())
