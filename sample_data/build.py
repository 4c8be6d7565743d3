"""Rebuild the bundled sample set from Debian's `openclipart-png` (public domain).

    python sample_data/build.py [--source /usr/share/openclipart/png]

Per synset: up to PER_SYNSET drawings from the matching clip-art folders (which, like search
results, include some wrong pictures), plus NOISE drawings from unrelated folders; each is
flattened onto white, scaled to at most MAX_SIDE pixels and re-encoded as JPEG. Deterministic.
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
OUT = HERE / "images"
PER_SYNSET = 34
NOISE = 3
MAX_SIDE = 500
QUALITY = 80
# wnid -> (synset name, clip-art folders)
SYNSETS = {
    "n01503061": ("bird.n.01", ["animals/birds"]),
    "n02159955": ("insect.n.01", ["animals/bugs"]),
    "n01861778": ("mammal.n.01", ["animals/mammals"]),
    "n07705931": ("edible_fruit.n.01", ["food/fruit"]),
    "n07609840": ("dessert.n.01", ["food/desserts"]),
    "n07881800": ("beverage.n.01", ["food/beverages"]),
    "n03354903": ("flag.n.01", ["signs_and_symbols/flags/europe", "signs_and_symbols/flags/asia"]),
    "n11669921": ("flower.n.01", ["plants/flowers"]),
    "n03544360": ("house.n.01", ["buildings/homes"]),
    "n03800933": ("musical_instrument.n.01", ["recreation/music"]),
}
NOISE_FOLDERS = ["computer/hardware", "tools", "office", "people", "transportation/vehicles"]


def flatten(path: Path) -> Image.Image:
    im = Image.open(path)
    im.load()
    if im.mode in ("P", "LA", "L") or "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        white = Image.new("RGB", im.size, (255, 255, 255))
        white.paste(im, mask=im.getchannel("A"))
        im = white
    im = im.convert("RGB")
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return im


def pngs(root: Path, folder: str) -> list[Path]:
    return sorted(p for p in (root / folder).glob("*.png") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=Path("/usr/share/openclipart/png"))
    args = parser.parse_args()
    rng = random.Random(2009)  # the year of ImageNet
    noise_pool = [p for folder in NOISE_FOLDERS for p in pngs(args.source, folder)]
    if OUT.exists():
        shutil.rmtree(OUT)
    total = 0
    for wnid, (_name, folders) in SYNSETS.items():
        pool = [p for folder in folders for p in pngs(args.source, folder)]
        chosen = sorted(rng.sample(pool, min(PER_SYNSET, len(pool))))
        chosen += rng.sample(noise_pool, NOISE)
        target = OUT / wnid
        target.mkdir(parents=True)
        for path in chosen:
            out = target / (path.stem + ".jpg")
            flatten(path).save(out, "JPEG", quality=QUALITY, optimize=True)
            total += out.stat().st_size
    print(f"{sum(1 for _ in OUT.rglob('*.jpg'))} images, {total / 1e6:.1f} MB in {OUT}")


if __name__ == "__main__":
    main()
