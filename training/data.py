"""Reading an export directory (training/EXPORT_FORMAT.md): classes, samples, datasets, loaders.

Pure torch/torchvision/webdataset: no Django, no database.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from training.errors import EmptySplit, ExportInvalid, ExportMissing
from training.models import preprocessing_for

WNID = re.compile(r"^n\d{8}$")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}


@dataclass
class ExportInfo:
    root: Path
    classes: list[str]  # class index -> wnid (synsets.txt order)
    lemmas: list[str]
    dataset: dict[str, Any] = field(default_factory=dict)

    @property
    def formats(self) -> list[str]:
        found = [f for f in ("imagefolder", "webdataset") if (self.root / f).is_dir()]
        return found

    def count(self, split: str) -> int | None:
        counts = self.dataset.get("counts") or {}
        if not counts:
            return None
        return sum(int((c or {}).get(split, 0)) for c in counts.values())


def read_synsets(path: Path) -> tuple[list[str], list[str]]:
    if not path.is_file():
        raise ExportMissing(
            f"{path} does not exist: not an export directory (see EXPORT_FORMAT.md)"
        )
    wnids: list[str] = []
    lemmas: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportInvalid(f"{path}: unreadable ({exc})") from exc
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        wnid, _, lemma = line.strip().partition(" ")
        if not WNID.match(wnid):
            raise ExportInvalid(
                f"{path}:{lineno}: expected '<wnid> <lemma>' with a wnid like n02084071, "
                f"got {line[:80]!r}"
            )
        if wnid in wnids:
            raise ExportInvalid(f"{path}:{lineno}: wnid {wnid} listed twice")
        wnids.append(wnid)
        lemmas.append(lemma.strip())
    if not wnids:
        raise ExportInvalid(f"{path}: no classes")
    return wnids, lemmas


def read_export(root: str | Path) -> ExportInfo:
    """Validate the directory layout and return its classes; raise a specific TrainingError."""
    root = Path(root)
    if not root.exists():
        raise ExportMissing(f"export directory {root} does not exist")
    if not root.is_dir():
        raise ExportMissing(f"export directory {root} is not a directory")
    wnids, lemmas = read_synsets(root / "synsets.txt")
    dataset: dict[str, Any] = {}
    meta = root / "dataset.json"
    if meta.exists():
        try:
            dataset = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ExportInvalid(f"{meta}: not valid JSON ({exc})") from exc
        if not isinstance(dataset, dict):
            raise ExportInvalid(f"{meta}: expected a JSON object")
        listed = [c.get("wnid") for c in dataset.get("classes") or [] if isinstance(c, dict)]
        if listed and listed != wnids:
            raise ExportInvalid(f"{meta}: classes differ from synsets.txt")
    info = ExportInfo(root, wnids, lemmas, dataset)
    if not info.formats:
        raise ExportMissing(f"{root} holds neither imagefolder/ nor webdataset/")
    return info


def choose_format(info: ExportInfo, wanted: str | None) -> str:
    if wanted and wanted != "auto":
        if wanted not in info.formats:
            raise ExportMissing(f"{info.root} has no {wanted}/ directory (has: {info.formats})")
        return wanted
    return info.formats[0]


# --- transforms ---------------------------------------------------------------------------------


def transforms_for(
    arch: str, image_size: int | None, *, train: bool
) -> Callable[[Image.Image], Any]:
    from torchvision import transforms as T

    prep = preprocessing_for(arch)
    size = image_size or prep.input_size
    resize = round(size * prep.resize / prep.input_size)
    norm = T.Normalize(prep.mean, prep.std)
    if train:
        return T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor(), norm])
    return T.Compose([T.Resize(resize), T.CenterCrop(size), T.ToTensor(), norm])


def _rgb(img: Image.Image) -> Image.Image:
    if img.mode != "RGB":
        if img.mode in ("P", "LA", "RGBA") or "transparency" in img.info:
            img = img.convert("RGBA")
            bg = Image.new("RGB", img.size, (255, 255, 255))
            bg.paste(img, mask=img.split()[-1])
            return bg
        return img.convert("RGB")
    return img


# --- ImageFolder --------------------------------------------------------------------------------


class FolderDataset(Dataset):
    """imagefolder/<split>/<wnid>/<sha256>.<ext>; yields (tensor, class index, sha256, path)."""

    def __init__(self, info: ExportInfo, split: str, transform: Callable) -> None:
        base = info.root / "imagefolder" / split
        if not base.is_dir():
            raise EmptySplit(f"split {split!r} is missing: {base} does not exist")
        known = set(info.classes)
        unknown = sorted(p.name for p in base.iterdir() if p.is_dir() and p.name not in known)
        if unknown:
            raise ExportInvalid(
                f"{base} has class folders not in synsets.txt: {', '.join(unknown[:5])}"
            )
        self.samples: list[tuple[str, int]] = []
        for index, wnid in enumerate(info.classes):
            folder = base / wnid
            if folder.is_dir():
                files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)
                self.samples += [(str(p), index) for p in files]
        if not self.samples:
            raise EmptySplit(f"split {split!r} holds no images under {base}")
        self.root = info.root
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str, str]:
        path, label = self.samples[i]
        with Image.open(path) as img:
            x = self.transform(_rgb(img))
        rel = str(Path(path).relative_to(self.root))
        return x, label, Path(path).stem, rel


# --- WebDataset ---------------------------------------------------------------------------------


def shard_urls(info: ExportInfo, split: str) -> list[str]:
    shards = sorted((info.root / "webdataset").glob(f"{split}-*.tar"))
    if not shards:
        raise EmptySplit(f"split {split!r} has no shards ({info.root}/webdataset/{split}-*.tar)")
    return [str(p) for p in shards]


def _decode_sample(transform: Callable, num_classes: int) -> Callable[[dict], tuple]:
    import io

    def decode(sample: dict) -> tuple[torch.Tensor, int, str, str]:
        key = sample["__key__"]
        data = next((sample[k] for k in ("jpg", "jpeg", "png", "webp") if k in sample), None)
        if data is None:
            raise ExportInvalid(f"shard sample {key} has no image (.jpg/.png)")
        label = int(sample["cls"].decode() if isinstance(sample["cls"], bytes) else sample["cls"])
        if not 0 <= label < num_classes:
            raise ExportInvalid(f"shard sample {key}: class {label} not in synsets.txt")
        path = ""
        if "json" in sample:
            try:
                path = str(json.loads(sample["json"]).get("path", ""))
            except (ValueError, AttributeError):
                path = ""
        with Image.open(io.BytesIO(data)) as img:
            x = transform(_rgb(img))
        return x, label, Path(key).name, path or key

    return decode


def _every_shard(src: Any) -> Any:
    """No node splitting: single-process training, or rank 0 evaluating the whole val split."""
    yield from src


def webdataset_split(
    info: ExportInfo,
    split: str,
    transform: Callable,
    *,
    train: bool,
    seed: int,
    world_size: int = 1,
    workers: int = 0,
) -> Any:
    import webdataset as wds

    urls = shard_urls(info, split)
    n = info.count(split)
    if train and world_size > 1:
        # Equal batches on every rank (DDP must step in lockstep): resample shards, fixed epoch.
        ds = wds.WebDataset(
            urls, resampled=True, shardshuffle=False, seed=seed, nodesplitter=wds.split_by_node
        )
        per_rank = math.ceil((n or len(urls) * 1000) / world_size)
        ds = ds.shuffle(1000, seed=seed).map(_decode_sample(transform, len(info.classes)))
        return ds.with_epoch(math.ceil(per_rank / max(1, workers)))  # each loader worker's share
    ds = wds.WebDataset(
        urls, shardshuffle=len(urls) if train else False, seed=seed, empty_check=False,
        nodesplitter=_every_shard, workersplitter=wds.split_by_worker,
    )  # fmt: skip
    if train:
        ds = ds.shuffle(1000, seed=seed)
    return ds.map(_decode_sample(transform, len(info.classes)))


# --- loaders ------------------------------------------------------------------------------------


def collate(batch: list[tuple]) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    xs, ys, keys, paths = zip(*batch, strict=True)
    return torch.stack(xs), torch.tensor(ys), list(keys), list(paths)


@dataclass
class Loaders:
    train: Any
    val: Any
    train_sampler: Any
    train_len: int | None
    val_len: int | None
    format: str


def _seed_worker(worker_id: int) -> None:
    import random

    import numpy as np

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loaders(
    info: ExportInfo,
    *,
    fmt: str,
    arch: str,
    image_size: int | None,
    batch_size: int,
    workers: int,
    seed: int,
    generator: torch.Generator,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool = False,
) -> Loaders:
    t_train = transforms_for(arch, image_size, train=True)
    t_val = transforms_for(arch, image_size, train=False)
    common: dict[str, Any] = {
        "batch_size": batch_size, "num_workers": workers, "collate_fn": collate,
        "pin_memory": pin_memory, "worker_init_fn": _seed_worker,
        "persistent_workers": False,
    }  # fmt: skip
    if workers:
        common["prefetch_factor"] = 4
    if fmt == "imagefolder":
        train_ds = FolderDataset(info, "train", t_train)
        val_ds = FolderDataset(info, "val", t_val)
        sampler = None
        if world_size > 1:
            from torch.utils.data.distributed import DistributedSampler

            sampler = DistributedSampler(
                train_ds, num_replicas=world_size, rank=rank, shuffle=True, seed=seed
            )
        train = DataLoader(
            train_ds, shuffle=sampler is None, sampler=sampler, generator=generator,
            drop_last=len(train_ds) >= 2 * batch_size * world_size, **common,
        )  # fmt: skip
        val = DataLoader(val_ds, shuffle=False, **common)
        per_rank = math.ceil(len(train_ds) / world_size)
        return Loaders(train, val, sampler, per_rank, len(val_ds), fmt)
    train_ds = webdataset_split(
        info, "train", t_train, train=True, seed=seed, world_size=world_size, workers=workers
    )
    val_ds = webdataset_split(info, "val", t_val, train=False, seed=seed)
    train = DataLoader(train_ds, generator=generator, **common)
    val = DataLoader(val_ds, **common)
    n_train = info.count("train")
    return Loaders(
        train,
        val,
        None,
        math.ceil(n_train / world_size) if n_train else None,
        info.count("val"),
        fmt,
    )


def iterate(loader: Any) -> Iterator[Any]:
    yield from loader
