"""The `dedup` job (cpu queue): bring the on-disk indexes up to date, search the new images in
chunks, then rebuild the groups.

plan      adds images not yet indexed to the pHash index and (when the active model has
          embeddings) to the embedding index, saves both with the new images as "pending"
          queries, and yields one chunk per DEDUP_CHUNK_SIZE pending queries;
run_chunk searches its slice of pending queries against the whole index (old and new images)
          and upserts the edges it finds: a chunk re-run after a SIGKILL writes nothing twice;
finalize  forgets the pending queries and rebuilds the groups from all edges (union-find,
          respecting NotDuplicatePairs), which also moves candidate exclusions.

The near index holds the embeddings centred on the collection's mean and PCA-whitened (fitted on
the collection itself once it has DEDUP_WHITEN_MIN images, stored beside the index, refitted with
a rebuild when the collection has doubled since). Every pHash or embedding link is a candidate
only: worker.dedup.verify compares the two thumbnails pixel by pixel (after placing one on the
other) and drops the link unless they match within DEDUP_VERIFY_MAX_DIFF.

A pHash pair at distance 0 between two images of the same size is decoded and compared pixel by
pixel: identical pixels make it an "exact" edge (sha256 already merges identical bytes at ingest),
anything else stays "near-exact".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from django.conf import settings

from curation.models import DuplicateEdge, Image, Job, JobChunk, ModelArtifact, NotDuplicatePair
from curation.services.jobs import ChunkSpec, Progress, result_counts
from worker.dedup import search, store
from worker.embeddings import EmbeddingStore

logger = logging.getLogger(__name__)
PHASH = "phash"
MASK64 = 2**64 - 1  # pHashes are stored as signed 64-bit integers
_cache: dict[tuple[str, float], store.StoredIndex] = {}


def near_name(model: str) -> str:
    return f"near-{model}"


def active_model() -> str | None:
    return ModelArtifact.objects.filter(active=True).values_list("name", flat=True).first()


# --- plan: bring the indexes up to date -----------------------------------------------------------


def prepare_phash(job_id: int | None = None) -> int:
    rows = np.array(
        list(Image.objects.filter(phash__isnull=False).values_list("pk", "phash").order_by("pk")),
        dtype=np.int64,
    ).reshape(-1, 2)
    ids_all, hashes = rows[:, 0], rows[:, 1]
    stored = store.load(PHASH, binary=True)
    old_pending, _ = store.pending(PHASH)
    rebuild = (
        stored is None
        or not np.isin(stored.ids, ids_all).all()  # images were deleted
        or (
            len(ids_all) > search.BINARY_FLAT_MAX
            and type(stored.index).__name__ == "IndexBinaryFlat"
        )
    )
    if rebuild:
        index = search.binary_index(len(ids_all))
        index.add(search.phash_codes(hashes))
        new_ids = ids_all
        stored = store.StoredIndex(PHASH, index, ids_all, {"model": ""}, binary=True)
        pending_ids = ids_all
    else:
        assert stored is not None
        new_mask = ~np.isin(ids_all, stored.ids)
        new_ids = ids_all[new_mask]
        stored.index.add(search.phash_codes(hashes[new_mask]))
        stored.ids = np.concatenate([stored.ids, new_ids])
        pending_ids = np.union1d(new_ids, old_pending[np.isin(old_pending, ids_all)])
    order = np.searchsorted(ids_all, pending_ids)
    stored.meta["job"] = job_id
    store.save(stored, pending_ids=pending_ids, pending_x=search.phash_codes(hashes[order]))
    logger.info("dedup: pHash index %s images, %s new, %s to search", len(stored.ids),
                len(new_ids), len(pending_ids))  # fmt: skip
    return len(pending_ids)


def _whitening(vecs: np.ndarray) -> dict[str, np.ndarray]:
    """The collection's whitening, or none while it is too small to estimate one."""
    if len(vecs) < int(settings.DEDUP_WHITEN_MIN):
        return {}
    mean, proj = search.fit_whitening(vecs, int(settings.DEDUP_WHITEN_DIM))
    return {"mean": mean, "proj": proj}


def _project(vecs: np.ndarray, extra: dict[str, np.ndarray]) -> np.ndarray:
    if "proj" in extra:
        return search.apply_whitening(vecs, extra["mean"], extra["proj"])
    return search.l2_normalise(vecs)


def near_threshold(stored: store.StoredIndex | None, job_params: dict[str, Any]) -> float:
    """The cosine a near link needs: in the whitened space once there is one, else raw."""
    if stored is not None and "proj" in stored.extra:
        return float(job_params.get("cosine", settings.DEDUP_COSINE_THRESHOLD))
    return float(job_params.get("cosine_raw", settings.DEDUP_COSINE_THRESHOLD_RAW))


def prepare_near(model: str, job_id: int | None = None) -> int:
    name = near_name(model)
    embeddings = EmbeddingStore.for_model(model)
    live = np.array(list(Image.objects.values_list("pk", flat=True).order_by("pk")), np.int64)
    have = np.array(sorted(embeddings.stored_ids()), dtype=np.int64)
    have = have[np.isin(have, live)]
    if len(have) == 0:
        store.remove_all(store.index_dir(name))
        return 0
    stored = store.load(name, binary=False, model=model)
    old_pending, _ = store.pending(name)
    flat = stored is not None and type(stored.index).__name__ == "IndexFlatIP"
    fitted_on = int(stored.meta.get("whitened_on", 0)) if stored is not None else 0
    refit = len(have) >= int(settings.DEDUP_WHITEN_MIN) and len(have) >= 2 * max(fitted_on, 1)
    if (
        stored is None
        or not np.isin(stored.ids, live).all()
        or (flat and len(have) > search.FLAT_MAX)
        or refit  # first whitening, or the collection doubled since the last fit
    ):
        ids, raw = embeddings.read(have)
        extra = _whitening(raw)
        vecs = _project(raw, extra)
        index = search.float_index(vecs.shape[1], vecs)
        index.add(vecs)
        meta = {"model": model, "dim": int(vecs.shape[1]),
                "whitened_on": len(ids) if extra else 0}  # fmt: skip
        stored = store.StoredIndex(name, index, ids, meta, extra=extra)
        pending_ids, pending_x = ids, vecs
    else:
        new_ids = have[~np.isin(have, stored.ids)]
        ids, raw = embeddings.read(new_ids) if len(new_ids) else (new_ids, None)
        if len(ids):
            stored.index.add(_project(raw, stored.extra))
            stored.ids = np.concatenate([stored.ids, ids])
        pending_ids = np.union1d(ids, old_pending[np.isin(old_pending, have)])
        _, pending_raw = (
            embeddings.read(pending_ids) if len(pending_ids) else (None, np.empty((0, 0)))
        )
        pending_x = _project(pending_raw, stored.extra) if len(pending_ids) else pending_raw
    stored.meta["job"] = job_id
    store.save(stored, pending_ids=pending_ids, pending_x=pending_x)
    logger.info("dedup: %s index %s images (whitened: %s), %s to search", name, len(stored.ids),
                bool(stored.extra), len(pending_ids))  # fmt: skip
    return len(pending_ids)


# --- chunks: search pending queries ---------------------------------------------------------------


def _load_cached(name: str, *, binary: bool, model: str) -> store.StoredIndex | None:
    meta = store.index_dir(name) / "meta.json"
    key = (name, meta.stat().st_mtime if meta.exists() else 0.0)
    if key not in _cache:
        loaded = store.load(name, binary=binary, model=model)
        if loaded is None:
            return None
        _cache.clear()
        _cache[key] = loaded
    return _cache[key]


def _same_pixels(a: Image, b: Image) -> bool:
    from django.core.files.storage import default_storage
    from PIL import Image as PILImage

    try:
        with default_storage.open(a.storage_key) as fa, default_storage.open(b.storage_key) as fb:
            pa, pb = PILImage.open(fa), PILImage.open(fb)
            return pa.size == pb.size and pa.convert("RGB").tobytes() == pb.convert("RGB").tobytes()
    except Exception as exc:  # unreadable file: not provably identical
        logger.warning("dedup: cannot compare images %s and %s: %s", a.pk, b.pk, exc)
        return False


FoundFrom = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _owned(
    a: np.ndarray, b: np.ndarray, pending_ids: np.ndarray, found_from: FoundFrom
) -> np.ndarray:
    """Which (query a, match b) pairs this search keeps. A pair whose two ends are both pending
    is found twice, once from each end (in this chunk or another chunk of the job): only the
    search from its lower id keeps it, so its pixel check runs once. A pair that the search from
    the other end does not find (a capped candidate list, an approximate index) stays here.
    `found_from(rows)` runs the search from the pending queries at those positions."""
    mirrored = (a > b) & np.isin(b, pending_ids)
    keep = ~mirrored
    if mirrored.any():
        order = np.argsort(pending_ids, kind="stable")
        ends = np.unique(b[mirrored])
        qa, qb = found_from(order[np.searchsorted(pending_ids[order], ends)])
        back = set(zip(qa.tolist(), qb.tolist(), strict=True))
        rows = np.nonzero(mirrored)[0]
        keep[rows] = [
            (y, x) not in back
            for x, y in zip(a[rows].tolist(), b[rows].tolist(), strict=True)
        ]  # fmt: skip
    return keep


def search_phash_slice(start: int, stop: int, radius: int) -> list[tuple[int, int, str, float]]:
    stored = _load_cached(PHASH, binary=True, model="")
    if stored is None:
        raise RuntimeError("the pHash index vanished while the job ran; run dedup again")
    index_ids = stored.ids
    pending_ids, pending_x = store.pending(PHASH)

    def search_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, search.Pairs]:
        p = search.binary_pairs(stored.index, np.asarray(pending_x[rows]), radius)
        return pending_ids[rows][p.query], index_ids[p.base], p

    a, b, pairs = search_rows(np.arange(start, stop))
    keep = (a != b) & _owned(a, b, pending_ids, lambda rows: search_rows(rows)[:2])
    a, b, sim, dist = a[keep], b[keep], pairs.similarity[keep], pairs.distance[keep]  # type: ignore[index]
    edges: list[tuple[int, int, str, float]] = []
    zero = [(int(x), int(y)) for x, y, d in zip(a, b, dist, strict=True) if d == 0]
    exact: set[tuple[int, int]] = set()
    if zero:
        images = Image.objects.in_bulk({i for pair in zero for i in pair})
        for x, y in zero:
            ia, ib = images.get(x), images.get(y)
            if (
                ia
                and ib
                and (ia.width, ia.height) == (ib.width, ib.height)
                and _same_pixels(ia, ib)
            ):
                exact.add((x, y))
    others = [(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True) if (x, y) not in exact]
    refuted = _colour_mismatches(others)
    for x, y, s in zip(a.tolist(), b.tolist(), sim.tolist(), strict=True):
        if (x, y) in refuted:
            continue
        kind = "exact" if (x, y) in exact else "near_exact"
        edges.append((x, y, kind, float(s)))
    return edges


def _colour_signature(image: Image) -> np.ndarray | None:
    """16x16 RGB of the thumbnail, each channel standardised: brightness and contrast changes
    (affine per channel) leave it alone, different colours in the same layout do not."""
    from django.core.files.storage import default_storage
    from PIL import Image as PILImage

    try:
        with default_storage.open(image.thumb_key or image.storage_key) as fh:
            im = PILImage.open(fh)
            im.draft("RGB", (64, 64))
            arr = np.asarray(im.convert("RGB").resize((16, 16), PILImage.BOX), dtype=np.float32)
    except Exception as exc:  # unreadable: keep the pHash verdict
        logger.warning("dedup: cannot read image %s for the colour check: %s", image.pk, exc)
        return None
    flat = arr.reshape(-1, 3)
    return (flat - flat.mean(axis=0)) / (flat.std(axis=0) + 8.0)


def _colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """90th percentile over the 256 cells of the RGB distance between standardised signatures:
    a band or a region of another colour stands out; JPEG noise and resizing do not."""
    return float(np.percentile(np.linalg.norm(a - b, axis=1), 90))


def _pixel_check_on() -> bool:
    return float(settings.DEDUP_VERIFY_MAX_DIFF) > 0


def _colour_mismatches(pairs: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """pHash reads luminance only: flat-colour pictures (flags, logos, clip art) with the same
    layout hash alike. With the pixel check off (DEDUP_VERIFY_MAX_DIFF = 0), a pHash link is
    refuted when the pictures' colour layouts differ by more than DEDUP_COLOUR_MAX_DIFF (see
    _colour_distance; on Open Clip Art, resize + JPEG 30 stays under 0.45 and brightness +-20%
    under 0.25, while flags of the same layout score 0.7-3.2). With the check on, the check
    judges colour itself (per-channel gain veto) and this one stays out: its 16x16 cells are
    compared in place, so a crop or a border moves them and a real copy read as "other
    colours" (a 10% crop of a 147 px drawing: 1.1)."""
    limit = settings.DEDUP_COLOUR_MAX_DIFF
    if not pairs or limit <= 0 or _pixel_check_on():
        return set()
    images = Image.objects.in_bulk({i for pair in pairs for i in pair})
    signatures: dict[int, np.ndarray | None] = {}
    refuted: set[tuple[int, int]] = set()
    for x, y in pairs:
        for i in (x, y):
            if i not in signatures and i in images:
                signatures[i] = _colour_signature(images[i])
        sx, sy = signatures.get(x), signatures.get(y)
        if sx is not None and sy is not None and _colour_distance(sx, sy) > limit:
            refuted.add((x, y))
    return refuted


def _within_phash_radius(a: np.ndarray, b: np.ndarray, radius: int) -> np.ndarray:
    """Pairs the pHash search finds (and checks) itself: both hashed, Hamming <= radius."""
    if len(a) == 0:
        return np.zeros(0, dtype=bool)
    hashes = dict(
        Image.objects.filter(
            pk__in=set(a.tolist()) | set(b.tolist()), phash__isnull=False
        ).values_list("pk", "phash")
    )

    def close(x: int, y: int) -> bool:
        return (
            x in hashes and y in hashes and ((hashes[x] ^ hashes[y]) & MASK64).bit_count() <= radius
        )

    return np.array([close(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True)], bool)


def search_near_slice(
    model: str, start: int, stop: int, job_params: dict[str, Any]
) -> list[tuple[int, int, str, float]]:
    name = near_name(model)
    stored = _load_cached(name, binary=False, model=model)
    if stored is None:
        raise RuntimeError(f"the {name} index vanished while the job ran; run dedup again")
    threshold = near_threshold(stored, job_params)
    index_ids = stored.ids
    pending_ids, pending_x = store.pending(name)
    cap = int(settings.DEDUP_MAX_CANDIDATES)

    def search_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, search.Pairs]:
        q_ids = pending_ids[rows]
        p = search.float_pairs(stored.index, np.asarray(pending_x[rows]), threshold)
        keep = q_ids[p.query] != index_ids[p.base]
        p = search.top_per_query(search.Pairs(p.query[keep], p.base[keep], p.similarity[keep]), cap)
        return q_ids[p.query], index_ids[p.base], p

    a, b, pairs = search_rows(np.arange(start, stop))
    keep = _owned(a, b, pending_ids, lambda rows: search_rows(rows)[:2])
    if _pixel_check_on():  # else the pHash search's colour check may
        # refute a pair that is a copy (see _colour_mismatches): leave it to this search too
        keep &= ~_within_phash_radius(
            a, b, int(job_params.get("phash_radius", settings.DEDUP_PHASH_RADIUS))
        )
    return [
        (x, y, "near", min(1.0, max(0.0, float(s))))
        for x, y, s in zip(
            a[keep].tolist(), b[keep].tolist(), pairs.similarity[keep].tolist(), strict=True
        )
    ]


def _thumbnail(image: Image) -> Any:
    from django.core.files.storage import default_storage
    from PIL import Image as PILImage

    from worker.dedup.verify import Picture

    try:
        with default_storage.open(image.thumb_key or image.storage_key) as fh:
            im = PILImage.open(fh)
            im.draft("RGB", (256, 256))
            return Picture.from_image(im)
    except Exception as exc:  # unreadable: the link cannot be confirmed
        logger.warning("dedup: cannot read image %s for verification: %s", image.pk, exc)
        return None


def verify_edges(
    edges: list[tuple[int, int, str, float]],
) -> tuple[list[tuple[int, int, str, float]], int]:
    """The edges whose two thumbnails match pixel by pixel (worker.dedup.verify), and how many
    pairs were checked. Exact edges (identical pixels) and pairs already stored as edges (checked
    by an earlier chunk or job) pass unchecked; a curator's "not a duplicate" pairs are dropped;
    each unordered pair is checked once. DEDUP_VERIFY_MAX_DIFF = 0 turns the check off."""
    limit = float(settings.DEDUP_VERIFY_MAX_DIFF)
    out = [e for e in edges if e[2] == "exact"]
    todo: dict[tuple[int, int], list[tuple[int, int, str, float]]] = {}
    for e in edges:
        if e[2] != "exact" and e[0] != e[1]:
            todo.setdefault((min(e[:2]), max(e[:2])), []).append(e)
    if limit <= 0 or not todo:
        return out + [e for group in todo.values() for e in group], 0
    lows = sorted({a for a, _ in todo})
    known = set(DuplicateEdge.objects.filter(image_a__in=lows).values_list("image_a", "image_b"))
    refused = set(
        NotDuplicatePair.objects.filter(image_a__in=lows).values_list("image_a", "image_b")
    )
    from threadpoolctl import threadpool_limits

    images = Image.objects.in_bulk({i for pair in todo for i in pair})
    pictures: dict[int, Any] = {}
    checked = 0
    with threadpool_limits(1):  # small matrix products: BLAS threads only contend
        for (a, b), group in todo.items():
            if (a, b) in refused:
                continue
            if (a, b) not in known:
                for i in (a, b):
                    if i not in pictures:
                        pictures[i] = _thumbnail(images[i]) if i in images else None
                pa, pb = pictures[a], pictures[b]
                checked += 1
                if pa is None or pb is None or not _confirmed(a, b, pa, pb, limit):
                    continue
            out.extend(group)
    return out, checked


def _confirmed(a: int, b: int, pa: Any, pb: Any, limit: float) -> bool:
    """The pixel check's verdict on images a and b; a picture it cannot handle leaves the link
    unconfirmed and the rest of the chunk goes on."""
    from worker.dedup.verify import verify_pair

    try:
        return verify_pair(pa, pb, max_diff=limit).ok
    except Exception as exc:
        logger.warning("dedup: pixel check failed on images %s and %s: %r", a, b, exc)
        return False


# --- the job --------------------------------------------------------------------------------------


class DedupHandler:
    def plan(self, job: Job) -> Iterable[ChunkSpec]:
        size = int(settings.DEDUP_CHUNK_SIZE)
        n = prepare_phash(job.pk)
        for start in range(0, n, size):
            yield ChunkSpec({"index": PHASH, "start": start, "stop": min(n, start + size)},
                            size=min(size, n - start))  # fmt: skip
        model = job.params.get("model") or active_model()
        if model:
            m = prepare_near(model, job.pk)
            for start in range(0, m, size):
                yield ChunkSpec(
                    {"index": near_name(model), "model": model, "start": start,
                     "stop": min(m, start + size)},
                    size=min(size, m - start),
                )  # fmt: skip

    def run_chunk(self, job: Job, chunk: JobChunk, progress: Progress) -> None:
        from curation.services.dedup_groups import edges_upsert

        p = chunk.payload
        if settings.DEDUP_THROTTLE_S:  # leave a shared CPU some air between chunks
            time.sleep(float(settings.DEDUP_THROTTLE_S))
        if p["index"] == PHASH:
            radius = int(job.params.get("phash_radius", settings.DEDUP_PHASH_RADIUS))
            found = search_phash_slice(p["start"], p["stop"], radius)
        else:
            found = search_near_slice(p["model"], p["start"], p["stop"], job.params)
        edges, checked = verify_edges(found)
        written = edges_upsert(edges=edges)
        # Counted for the job's result (a re-run chunk overwrites its own count).
        JobChunk.objects.filter(pk=chunk.pk).update(
            payload={**p, "candidates": len(found), "pixel_checks": checked}
        )
        progress(
            p["stop"] - p["start"],
            message=f"{p['index']}: {len(edges)} links of {len(found)} candidates "
            f"({checked} pixel-checked, {written} new)",
        )

    def finalize(self, job: Job) -> dict[str, Any]:
        from curation.services.dedup_groups import duplicate_groups_rebuild

        store.clear_pending(PHASH, job_id=job.pk)
        model = job.params.get("model") or active_model()
        if model:
            store.clear_pending(near_name(model), job_id=job.pk)
        stats = duplicate_groups_rebuild()
        counts = [c.payload for c in job.chunks.all()]
        stats["candidates"] = sum(int(c.get("candidates", 0)) for c in counts)
        stats["pixel_checks"] = sum(int(c.get("pixel_checks", 0)) for c in counts)
        stats["model"] = model or ""
        stats["gpu"] = search.gpu_count() > 0
        return stats

    def summary(self, result: dict[str, Any]) -> str:
        return (
            "{groups} groups ({new_groups} new) holding {members} images;"
            " {excluded} candidacies excluded, {restored} restored · this run:"
            " {candidates} candidate pairs, {pixel_checks} pixel-checked"
        ).format_map(result_counts(result))
