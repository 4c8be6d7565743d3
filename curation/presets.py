"""Synset presets: wnid lists shipped in timm's data/_info, read without importing timm."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

PRESETS = {
    "ilsvrc1k": ("imagenet_synsets.txt", "ILSVRC-2012 (ImageNet-1k) 1,000 classes"),
    "imagenet21k": ("imagenet22k_synsets.txt", "ImageNet-21k (fall 2011) 21,841 synsets"),
}


class PresetError(Exception):
    pass


def timm_info_dir() -> Path:
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise PresetError("the timm package is not installed; it ships the ImageNet wnid lists")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"


@lru_cache(maxsize=8)
def preset_wnids(preset: str) -> tuple[str, ...]:
    """The preset's wnids in their canonical order (ILSVRC class-index order for ilsvrc1k)."""
    if preset not in PRESETS:
        raise PresetError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    path = timm_info_dir() / PRESETS[preset][0]
    seen: dict[str, None] = {}
    for line in path.read_text().splitlines():
        wnid = line.strip()
        if wnid:
            seen.setdefault(wnid, None)
    return tuple(seen)
