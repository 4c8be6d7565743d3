"""All-pairs near-duplicate search with FAISS, on the GPU when one is present, else the CPU.

pHash (64-bit) codes: `IndexBinaryFlat` up to DEDUP_BINARY_FLAT_MAX codes, beyond that
`IndexBinaryMultiHash` (4 x 16-bit substrings, nflip=2: by pigeonhole, exact for Hamming radii up
to 11). Embeddings (L2-normalised, so inner product = cosine): `IndexFlatIP` up to
DEDUP_FLAT_MAX vectors, `IndexIVFFlat` beyond (nlist ~ 3 sqrt(n), nprobe 8).
On the CPU a range search returns every pair past the threshold; GPU indexes have no range search,
so there a k-NN search (k = DEDUP_KNN) is thresholded instead (union-find links larger groups
transitively). No O(n^2) Python loop anywhere: FAISS does the comparisons. The near index
searches whitened vectors (fit_whitening / apply_whitening) and keeps the best few candidates per
image (top_per_query); worker.dedup.verify then confirms each candidate pixel by pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np

BINARY_FLAT_MAX = 200_000
FLAT_MAX = 50_000
IVF_NPROBE = 8
KNN = 32


@dataclass
class Pairs:
    """Pairs (query row -> base row) with a similarity in 0..1 (and Hamming distance if binary)."""

    query: np.ndarray  # int64 rows into the queries
    base: np.ndarray  # int64 rows into the index
    similarity: np.ndarray  # float32
    distance: np.ndarray | None = None  # Hamming distances (binary only)


def gpu_count() -> int:
    try:
        return int(faiss.get_num_gpus())
    except Exception:  # a CPU build without the symbol
        return 0


def phash_codes(hashes: np.ndarray) -> np.ndarray:
    """Signed 64-bit pHashes (Image.phash) -> uint8[n, 8] codes for FAISS binary indexes."""
    return np.ascontiguousarray(np.asarray(hashes, dtype=">i8").view(np.uint8).reshape(-1, 8))


def binary_index(n_expected: int) -> faiss.IndexBinary:
    if n_expected <= BINARY_FLAT_MAX:
        return faiss.IndexBinaryFlat(64)
    index = faiss.IndexBinaryMultiHash(64, 4, 16)
    index.nflip = 2
    return index


def float_index(dim: int, train: np.ndarray | None = None) -> faiss.Index:
    """Flat inner-product index for small sets, IVF (trained on `train`) beyond FLAT_MAX."""
    if train is None or len(train) <= FLAT_MAX:
        return faiss.IndexFlatIP(dim)
    nlist = max(64, int(3 * math.sqrt(len(train))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 8  # k-means on a sample: precise centroids matter little here
    rng = np.random.default_rng(0)
    sample = train[rng.choice(len(train), size=min(len(train), nlist * 20), replace=False)]
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    index.nprobe = IVF_NPROBE
    return index


def _to_gpu(index: faiss.Index | faiss.IndexBinary, binary: bool):  # type: ignore[no-untyped-def]
    """The same index on GPU 0 when there is one (flat indexes), else the index itself."""
    if gpu_count() == 0:
        return index, False
    try:
        res = faiss.StandardGpuResources()
        if binary:
            if isinstance(index, faiss.IndexBinaryFlat):
                gpu = faiss.GpuIndexBinaryFlat(res, index)
                gpu._res = res
                return gpu, True
            return index, False
        gpu = faiss.index_cpu_to_gpu(res, 0, index)
        gpu._res = res
        return gpu, True
    except Exception:  # an index type the GPU build does not take: stay on the CPU
        return index, False


def _range_or_knn(index, queries: np.ndarray, radius: float, *, binary: bool, gpu: bool):  # type: ignore[no-untyped-def]
    """(lims, D, I) as from range_search, from either a range search or a thresholded k-NN."""
    if not gpu:
        return index.range_search(queries, radius)
    k = min(KNN, index.ntotal)
    dist, ids = index.search(queries, k)
    keep = (ids >= 0) & ((dist < radius) if binary else (dist > radius))
    counts = keep.sum(axis=1)
    lims = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
    return lims, dist[keep], ids[keep]


def binary_pairs(index: faiss.IndexBinary, queries: np.ndarray, radius: int) -> Pairs:
    """Every (query, indexed code) pair within Hamming distance <= radius."""
    if index.ntotal == 0 or len(queries) == 0:
        empty = np.empty(0, dtype=np.int64)
        return Pairs(empty, empty, np.empty(0, np.float32), empty)
    searched, gpu = _to_gpu(index, binary=True)
    lims, dist, ids = _range_or_knn(
        searched, np.ascontiguousarray(queries, dtype=np.uint8), radius + 1, binary=True, gpu=gpu
    )
    rows = np.repeat(np.arange(len(queries), dtype=np.int64), np.diff(lims).astype(np.int64))
    dist = dist.astype(np.int64)
    return Pairs(rows, ids.astype(np.int64), (1.0 - dist / 64.0).astype(np.float32), dist)


def float_pairs(index: faiss.Index, queries: np.ndarray, threshold: float) -> Pairs:
    """Every (query, indexed vector) pair with cosine >= threshold (vectors L2-normalised)."""
    if index.ntotal == 0 or len(queries) == 0:
        empty = np.empty(0, dtype=np.int64)
        return Pairs(empty, empty, np.empty(0, np.float32))
    searched, gpu = _to_gpu(index, binary=False)
    # range_search keeps scores > radius: step just below the threshold so ">=" holds.
    radius = float(np.nextafter(np.float32(threshold), np.float32(-1)))
    lims, sims, ids = _range_or_knn(
        searched, np.ascontiguousarray(queries, dtype=np.float32), radius, binary=False, gpu=gpu
    )
    rows = np.repeat(np.arange(len(queries), dtype=np.int64), np.diff(lims).astype(np.int64))
    return Pairs(rows, ids.astype(np.int64), np.clip(sims, -1, 1).astype(np.float32))


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return out / norms


def all_pairs_float(vectors: np.ndarray, threshold: float, *, batch: int = 20_000) -> Pairs:
    """All pairs i < j with cosine >= threshold among `vectors` (benchmarks and tests)."""
    x = l2_normalise(vectors)
    index = float_index(x.shape[1], x)
    index.add(x)
    parts_q, parts_b, parts_s = [], [], []
    for start in range(0, len(x), batch):
        p = float_pairs(index, x[start : start + batch], threshold)
        q = p.query + start
        keep = q != p.base
        parts_q.append(q[keep])
        parts_b.append(p.base[keep])
        parts_s.append(p.similarity[keep])
    # Both directions count: with IVF a pair missed from one side (the other vector sits in a
    # cell not probed) is often found from the other.
    a, b = np.concatenate(parts_q), np.concatenate(parts_b)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    _, first = np.unique(lo * len(x) + hi, return_index=True)
    return Pairs(lo[first], hi[first], np.concatenate(parts_s)[first])


def all_pairs_binary(codes: np.ndarray, radius: int, *, batch: int = 50_000) -> Pairs:
    """All pairs i < j within Hamming `radius` among uint8[n, 8] codes."""
    index = binary_index(len(codes))
    index.add(codes)
    parts_q, parts_b, parts_s, parts_d = [], [], [], []
    for start in range(0, len(codes), batch):
        p = binary_pairs(index, codes[start : start + batch], radius)
        q = p.query + start
        keep = q < p.base
        parts_q.append(q[keep])
        parts_b.append(p.base[keep])
        parts_s.append(p.similarity[keep])
        parts_d.append(p.distance[keep])  # type: ignore[index]
    return Pairs(
        np.concatenate(parts_q),
        np.concatenate(parts_b),
        np.concatenate(parts_s),
        np.concatenate(parts_d),
    )


def fit_whitening(vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, projection) that centre unit vectors on the collection's mean and PCA-whiten them
    to `dim` components (eigenvalues^-1/2). Raw Lite0 embeddings of unrelated drawings on white
    sit at cosine 0.95+ because one shared direction dominates; whitened, near copies stay close
    and look-alikes spread out (bench_dedup)."""
    x = l2_normalise(vectors)
    mean = x.mean(axis=0)
    xc = x - mean
    cov = (xc.T @ xc) / max(1, len(xc))
    lam, vecs = np.linalg.eigh(cov.astype(np.float64))
    order = np.argsort(lam)[::-1][: max(1, min(dim, len(x) - 1, x.shape[1]))]
    lam, vecs = lam[order], vecs[:, order]
    proj = vecs / np.sqrt(np.maximum(lam, 0) + 1e-6 * max(float(lam[0]), 1e-12))
    return mean.astype(np.float32), proj.astype(np.float32)


def apply_whitening(vectors: np.ndarray, mean: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """Unit vectors in the whitened space (inner product = whitened cosine)."""
    return l2_normalise((l2_normalise(vectors) - mean) @ proj)


def top_per_query(pairs: Pairs, k: int) -> Pairs:
    """At most the k most similar base rows per query row: a family of look-alikes (hundreds of
    generated star polygons) would otherwise send every member's whole family to verification."""
    if k <= 0 or len(pairs.query) == 0:
        return pairs
    order = np.lexsort((-pairs.similarity, pairs.query))
    q = pairs.query[order]
    first = np.searchsorted(q, q, side="left")
    keep = order[(np.arange(len(q)) - first) < k]
    keep.sort()
    dist = None if pairs.distance is None else pairs.distance[keep]
    return Pairs(pairs.query[keep], pairs.base[keep], pairs.similarity[keep], dist)
