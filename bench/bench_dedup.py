"""Dedup quality and speed on a planted set: 5,000 distinct Open Clip Art drawings plus one
transformed copy of each of 500 of them (resize 50%, JPEG q30, crop 10% / 20%, brightness and
contrast +-20%, flip, rotation 5 deg, text overlay, 10% padding; see bench/dedup_set.py).

SynsetLab: pHash as ingest computes it + FAISS binary range search; EfficientNet-Lite0 embeddings
(pretrained, offline; the pre-label model) + FAISS inner-product range search; combined = the
union of both links. Side by side on the same files: imagededup PHash and imagededup CNN given the
same EfficientNet-Lite0 through its CustomModel option. Thresholds are calibrated here: the
loosest pHash radius / cosine threshold / pair of both whose precision over all pairs is >= 0.99.
Embeddings (ours and imagededup's) are cached under var/bench/dedup/ with their timings.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from bench import table
from bench.dedup_set import BASE, COPIES, DIR, TRANSFORMS, ensure_set

TARGET_TRANSFORMS = ("resize50", "jpeg30", "colour", "crop10")
RADII = list(range(0, 15))
COSINES = [0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.985, 0.99, 0.993, 0.995, 0.997, 0.999]


def _paths(data: dict) -> list[Path]:
    return [BASE / n for n in data["base"]] + [COPIES / n for n in data["copies"]]


# --- SynsetLab's features -------------------------------------------------------------------------


def _lite0():  # type: ignore[no-untyped-def]
    import torch

    from training.models import build_model

    torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", "1")))
    return build_model("efficientnet_lite0", 1000, pretrained=True).eval()


def _prep(path_or_image, draft: bool = True):  # type: ignore[no-untyped-def]
    """Shorter side 256, centre crop 224, Lite0 normalisation (JPEG draft mode decodes small)."""
    import torch
    from PIL import Image

    from training.models import preprocessing_for

    p = preprocessing_for("efficientnet_lite0")
    im = path_or_image if isinstance(path_or_image, Image.Image) else Image.open(path_or_image)
    if draft and im.format == "JPEG":
        im.draft("RGB", (p.resize, p.resize))
    im = im.convert("RGB")
    scale = p.resize / min(im.size)
    size = (max(p.resize, round(im.width * scale)), max(p.resize, round(im.height * scale)))
    im = im.resize(size, Image.BILINEAR)
    left, top = (im.width - p.input_size) // 2, (im.height - p.input_size) // 2
    im = im.crop((left, top, left + p.input_size, top + p.input_size))
    arr = (np.asarray(im, dtype=np.float32) / 255.0 - p.mean) / p.std
    return torch.from_numpy(arr.transpose(2, 0, 1).astype(np.float32))


class _Files:
    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):  # type: ignore[no-untyped-def]
        return _prep(self.paths[i])


def our_embeddings(paths: list[Path]) -> tuple[np.ndarray, float]:
    cache, meta = DIR / "ours-emb.npy", DIR / "ours-emb.json"
    if cache.exists() and meta.exists() and json.loads(meta.read_text())["n"] == len(paths):
        return np.load(cache).astype(np.float32), json.loads(meta.read_text())["seconds"]
    import torch
    from torch.utils.data import DataLoader

    from training.models import forward_features

    model = _lite0()
    start = time.perf_counter()
    out = []
    loader = DataLoader(_Files(paths), batch_size=32, num_workers=1)
    with torch.inference_mode():
        for x in loader:
            _, emb = forward_features(model, x.contiguous(memory_format=torch.channels_last))
            out.append(torch.nn.functional.normalize(emb, dim=1).numpy())
            if len(out) % 20 == 0:
                print(f"  ours: {sum(len(o) for o in out)}/{len(paths)}", flush=True)
    seconds = time.perf_counter() - start
    vecs = np.concatenate(out)
    np.save(cache, vecs.astype(np.float16))
    meta.write_text(json.dumps({"n": len(paths), "seconds": seconds}))
    return vecs.astype(np.float16).astype(np.float32), seconds


def our_phashes(paths: list[Path]) -> tuple[np.ndarray, float]:
    from PIL import Image

    from curation.ingest.decode import _phash_signed

    start = time.perf_counter()
    out = []
    for p in paths:
        with Image.open(p) as im:
            out.append(_phash_signed(im.convert("RGB")))
    return np.array(out, dtype=np.int64), time.perf_counter() - start


# --- imagededup -----------------------------------------------------------------------------------


def _flat_dir(paths: list[Path], name: str = "all") -> Path:
    d = DIR / name
    if not d.exists() or len(list(d.iterdir())) != len(paths):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        for p in paths:
            (d / p.name).symlink_to(p)
    return d


def imagededup_phash_encode(folder: Path) -> tuple[dict, float]:
    from imagededup.methods import PHash

    start = time.perf_counter()
    enc = PHash(verbose=False).encode_images(image_dir=str(folder))
    return enc, time.perf_counter() - start


def imagededup_phash_find(enc: dict, radius: int) -> tuple[set[tuple[str, str]], float]:
    from imagededup.methods import PHash

    start = time.perf_counter()
    found = PHash(verbose=False).find_duplicates(encoding_map=enc, max_distance_threshold=radius)
    return _pairs_of(found), time.perf_counter() - start


def imagededup_cnn_encode(folder: Path) -> tuple[dict[str, np.ndarray], float]:
    cache = DIR / f"imagededup-cnn-{folder.name}.npz"
    meta = cache.with_suffix(".json")
    if cache.exists() and meta.exists():
        data = np.load(cache)
        return {k: data[k] for k in data.files}, json.loads(meta.read_text())["seconds"]
    import torch
    from imagededup.methods import CNN
    from imagededup.utils import CustomModel

    from training.models import forward_features

    class Lite0Features(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = _lite0()

        def forward(self, x):  # type: ignore[no-untyped-def]
            x = x.contiguous(memory_format=torch.channels_last)  # as fast as ours
            return forward_features(self.net, x)[1]

    start = time.perf_counter()
    cnn = CNN(
        verbose=False,
        model_config=CustomModel(
            name="efficientnet_lite0",
            model=Lite0Features().eval(),
            transform=lambda im: _prep(im, draft=False),
        ),
    )
    enc = cnn.encode_images(image_dir=str(folder))
    seconds = time.perf_counter() - start
    np.savez(cache, **enc)
    meta.write_text(json.dumps({"seconds": seconds}))
    return enc, seconds


def imagededup_cnn_find(enc: dict[str, np.ndarray], t: float) -> tuple[set[tuple[str, str]], float]:
    from imagededup.methods import CNN
    from imagededup.utils import CustomModel

    cnn = CNN(verbose=False, model_config=CustomModel(name="x", model=_lite0(), transform=_prep))
    start = time.perf_counter()
    found = cnn.find_duplicates(encoding_map=enc, min_similarity_threshold=t)
    return _pairs_of(found), time.perf_counter() - start


def _pairs_of(found: dict) -> set[tuple[str, str]]:
    out = set()
    for k, vs in found.items():
        for v in vs:
            v = v[0] if isinstance(v, (tuple, list)) else v
            out.add((min(k, v), max(k, v)))
    return out


# --- scoring --------------------------------------------------------------------------------------


class Truth:
    """Scores pair sets given as int64 codes lo * N + hi over the index of all file names."""

    def __init__(self, data: dict, names: list[str]) -> None:
        self.n = len(names)
        self.pos = {name: i for i, name in enumerate(names)}
        kinds = np.full(self.n, -1, dtype=np.int64)
        planted, planted_kind = [], []
        for c, (o, t) in data["copies"].items():
            i, j = self.pos[c], self.pos[o]
            kinds[i] = TRANSFORMS.index(t)
            planted.append(min(i, j) * self.n + max(i, j))
            planted_kind.append(TRANSFORMS.index(t))
        self.kinds = kinds
        self.planted = np.array(planted, dtype=np.int64)
        self.planted_kind = np.array(planted_kind)

    def codes(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        keep = a != b
        a, b = a[keep], b[keep]
        return np.unique(np.minimum(a, b) * self.n + np.maximum(a, b))

    def name_codes(self, pairs: set[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.empty(0, dtype=np.int64)
        a, b = zip(*((self.pos[x], self.pos[y]) for x, y in pairs), strict=True)
        return self.codes(np.array(a), np.array(b))

    def score(self, pairs: np.ndarray) -> dict:
        correct = np.isin(pairs, self.planted)
        out: dict = {"pairs": len(pairs), "correct": int(correct.sum())}
        out["precision"] = float(correct.mean()) if len(pairs) else 1.0
        found = np.isin(self.planted, pairs)
        lo, hi = pairs // self.n, pairs % self.n
        for k, t in enumerate(TRANSFORMS):
            touching = (self.kinds[lo] == k) | (self.kinds[hi] == k)
            out[t] = {
                "recall": float(found[self.planted_kind == k].mean()),
                "precision": float(correct[touching].mean()) if touching.any() else 1.0,
            }
        return out


def run() -> tuple[str, str]:
    from worker.dedup import search

    data = ensure_set()
    paths = _paths(data)
    names = [p.name for p in paths]
    truth = Truth(data, names)
    print(f"  {len(data['base'])} drawings + {len(data['copies'])} copies", flush=True)

    hashes, t_hash = our_phashes(paths)
    vecs, t_embed = our_embeddings(paths)
    start = time.perf_counter()
    bp = search.all_pairs_binary(search.phash_codes(hashes), max(RADII))
    t_bin = time.perf_counter() - start
    start = time.perf_counter()
    fp = search.all_pairs_float(vecs, min(COSINES))
    t_float = time.perf_counter() - start

    dist = bp.distance
    assert dist is not None
    ph = {r: truth.codes(bp.query[dist <= r], bp.base[dist <= r]) for r in RADII}
    em = {}
    for t in COSINES:
        keep = fp.similarity >= t - 1e-6
        em[t] = truth.codes(fp.query[keep], fp.base[keep])
    ok = lambda s: s["precision"] >= 0.99  # noqa: E731
    ph_scores = {r: truth.score(p) for r, p in ph.items()}
    em_scores = {t: truth.score(p) for t, p in em.items()}
    r_cal = max([r for r in RADII if ok(ph_scores[r])], default=0)
    t_cal = min([t for t in COSINES if ok(em_scores[t])], default=max(COSINES))

    def target_recall(s: dict) -> float:
        return float(np.mean([s[t]["recall"] for t in TARGET_TRANSFORMS]))

    best = None
    for r in RADII:
        for t in COSINES:
            s = truth.score(np.union1d(ph[r], em[t]))
            if ok(s) and (best is None or (target_recall(s), r, -t) > best[0]):
                best = ((target_recall(s), r, -t), r, t, s)
    calibrated = best is not None
    if best is None:  # nothing reaches 0.99: take the most precise setting of the grid
        for r in RADII:
            for t in COSINES:
                s = truth.score(np.union1d(ph[r], em[t]))
                if best is None or (s["precision"], target_recall(s)) > best[0]:
                    best = ((s["precision"], target_recall(s)), r, t, s)
    assert best is not None
    _, r_comb, t_comb, comb = best

    folder = _flat_dir(paths)
    idd_ph_enc, t_idd_ph_enc = imagededup_phash_encode(folder)
    idd_ph_pairs, t_idd_ph_find = imagededup_phash_find(idd_ph_enc, r_comb)
    t_idd_ph = t_idd_ph_enc + t_idd_ph_find
    idd_ph = truth.score(truth.name_codes(idd_ph_pairs))
    # imagededup's own pHash at its own best radius, for fairness
    idd_scores = {
        r: truth.score(truth.name_codes(imagededup_phash_find(idd_ph_enc, r)[0]))
        for r in range(0, 13)
    }
    idd_r = max([r for r, sc in idd_scores.items() if ok(sc)], default=0)
    idd_ph_best = idd_scores[idd_r]

    # imagededup CNN encodes as slowly as our embedder (same model): on 2 shared cores it runs on
    # a subset (every copy, its original, and as many other drawings), ours beside it on the same.
    rng = np.random.default_rng(5)
    originals = {o for o, _ in data["copies"].values()}
    others = [n for n in data["base"] if n not in originals]
    sub_names = sorted(originals) + sorted(rng.choice(others, len(originals), replace=False))
    sub_names += sorted(data["copies"])
    sub_paths = [(COPIES if n in data["copies"] else BASE) / n for n in sub_names]
    sub_folder = _flat_dir(sub_paths, "subset")
    enc, t_idd_enc = imagededup_cnn_encode(sub_folder)
    idd_cnn_pairs, t_idd_find = imagededup_cnn_find(enc, t_comb)
    idd_cnn = truth.score(truth.name_codes(idd_cnn_pairs))
    sub_rows = np.array([names.index(n) for n in sub_names])
    start = time.perf_counter()
    sp = search.all_pairs_float(vecs[sub_rows], t_comb)
    t_sub_search = time.perf_counter() - start
    in_sub = np.zeros(len(names), dtype=bool)
    in_sub[sub_rows] = True
    pc = ph[r_comb]
    ph_sub = pc[in_sub[pc // len(names)] & in_sub[pc % len(names)]]
    ours_sub = truth.score(np.union1d(ph_sub, truth.codes(sub_rows[sp.query], sub_rows[sp.base])))
    t_sub_embed = t_embed * len(sub_names) / len(paths)

    methods = [
        (f"SynsetLab pHash (r <= {r_cal})", ph_scores[r_cal]),
        (f"SynsetLab embeddings (cos >= {t_cal})", em_scores[t_cal]),
        (f"SynsetLab combined (r <= {r_comb}, cos >= {t_comb})", comb),
        (f"imagededup PHash (r <= {r_comb})", idd_ph),
        (f"imagededup PHash (r <= {idd_r}, its best at P >= 0.99)", idd_ph_best),
        (f"subset of {len(sub_names):,}: SynsetLab combined", ours_sub),
        (f"subset of {len(sub_names):,}: imagededup CNN, same Lite0 (cos >= {t_comb})", idd_cnn),
    ]
    rows = []
    for label, s in methods:
        rows.append(
            [label, f"{s['precision']:.3f} ({s['pairs']})"]
            + [f"{s[t]['recall']:.2f} / {s[t]['precision']:.2f}" for t in TRANSFORMS]
        )
    quality = table(["method", "precision (pairs)", *TRANSFORMS], rows)

    n_sub = len(sub_names)
    speed = table(
        ["stage", "SynsetLab", "imagededup", "ratio"],
        [
            [f"pHash, {len(paths):,} images: hash + search", f"{t_hash:.1f} + {t_bin:.2f} s",
             f"{t_idd_ph_enc:.1f} + {t_idd_ph_find:.2f} s", f"{t_idd_ph / (t_hash + t_bin):.1f}x"],
            [f"CNN encode, {n_sub:,} images (same Lite0)",
             f"{t_sub_embed:.1f} s ({len(paths) / t_embed:.1f} img/s over all {len(paths):,})",
             f"{t_idd_enc:.1f} s ({n_sub / t_idd_enc:.1f} img/s)",
             f"{t_idd_enc / t_sub_embed:.1f}x"],
            [f"cosine all-pairs search, {n_sub:,} images", f"{t_sub_search:.3f} s (FAISS)",
             f"{t_idd_find:.2f} s", f"{t_idd_find / max(t_sub_search, 1e-6):.0f}x"],
            [f"CNN path end to end, {n_sub:,} images", f"{t_sub_embed + t_sub_search:.1f} s",
             f"{t_idd_enc + t_idd_find:.1f} s",
             f"{(t_idd_enc + t_idd_find) / (t_sub_embed + t_sub_search):.1f}x"],
            [f"SynsetLab all-pairs search over all {len(paths):,}",
             f"pHash {t_bin:.2f} s + cosine {t_float:.2f} s", "", ""],
        ],
    )  # fmt: skip
    note = "" if calibrated else "; none reached it, so the most precise of the grid"
    met = all(comb[t]["recall"] >= 0.95 for t in TARGET_TRANSFORMS) and comb["precision"] >= 0.99
    body = f"""
{len(data["base"]):,} distinct Open Clip Art drawings (flattened to RGB JPEG, <= 480 px) + one
transformed copy of each of {len(data["copies"])} of them ({len(data["copies"]) // len(TRANSFORMS)}+
per transformation). A pair is right when it links a copy to its original; precision is over all
pairs a method reports (any pair between two distinct drawings counts as wrong, though Open Clip
Art holds colour/outline variants of some drawings). Cells: recall / precision of the pairs
touching copies of that transformation. 2 cores, shared and loaded by parallel work.

{quality}

Calibrated (loosest setting with precision >= 0.99{note}): pHash radius **{r_cal}** alone; cosine
**{t_cal}** alone; combined **radius {r_comb} + cosine {t_comb}** (the defaults
DEDUP_PHASH_RADIUS / DEDUP_COSINE_THRESHOLD). Target (combined recall >= 0.95 on resize, JPEG,
colour, crop-10% at precision >= 0.99): **{"met" if met else "not met"}**.

{speed}

Target >= 10x faster than imagededup's CNN path at equal or better recall: the CNN forward pass
is the same model on both sides, so end to end the ratio is bounded by decoding (SynsetLab decodes
JPEGs in draft mode); the search itself is {t_idd_find / max(t_sub_search, 1e-6):.0f}x faster
(FAISS vs imagededup's chunked cosine matrix), and FAISS scales where a dense matrix does not (see
bench_dedup_scale). In SynsetLab the embeddings come from the pre-label job (computed once, shared
with predictions), so a dedup run costs the search only.
"""
    return "Dedup: planted duplicates, SynsetLab vs imagededup (bench_dedup)", body
