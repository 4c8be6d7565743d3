"""Rebuild the bundled sample set from Debian's `openclipart-png` (public domain).

    python sample_data/build.py [--source /usr/share/openclipart/png]

Per synset: up to PER_SYNSET drawings from the matching clip-art folders (which, like search
results, include some wrong pictures), plus NOISE drawings from unrelated folders; each is
flattened onto white, scaled to at most MAX_SIDE pixels and re-encoded as JPEG. Then
COPIES: edited copies of a few of them (resized, re-compressed, cropped, mirrored, brightened,
padded, re-encoded), two of them in another synset's folder, for the duplicate finder to find
(`zz_copy_<edit>__<original>`: sorted after the drawings). Deterministic.

    python sample_data/build.py --copies-only    # only (re)write the copies
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

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
# (edit, folder of the original, original, folder the copy goes to)
COPIES = [
    ("resize50", "n11669921", "sakura_01.jpg", "n11669921"),
    ("jpeg25", "n01503061", "baby-tux_alex_kuehne_01.jpg", "n01503061"),
    ("crop10", "n01861778", "camel_head_01.jpg", "n01861778"),
    ("mirror", "n07705931", "apple_bitten_dan_gerhard_01.jpg", "n07705931"),
    ("brighter", "n03544360", "big_house_01.jpg", "n03544360"),
    ("pad10", "n03354903", "aragon_01.jpg", "n03354903"),
    # The same picture proposed for two synsets: a cake among the beverages, a bee as a PNG
    # (identical pixels, other bytes) among the birds.
    ("resize75", "n07609840", "birthday_cake.jpg", "n07881800"),
    ("png", "n02159955", "bee.jpg", "n01503061"),
]
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


def edited(im: Image.Image, edit: str) -> Image.Image:
    w, h = im.size
    if edit.startswith("resize"):
        f = int(edit[len("resize") :]) / 100
        return im.resize((round(w * f), round(h * f)), Image.Resampling.LANCZOS)
    if edit == "crop10":  # 10% of each side's length, split unevenly
        return im.crop((w // 25, h // 20, w - w // 17, h - h // 20))
    if edit == "mirror":
        return ImageOps.mirror(im)
    if edit == "brighter":
        return ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(1.15)).enhance(0.9)
    if edit == "pad10":
        return ImageOps.expand(im, border=(w // 10, h // 10), fill=(255, 255, 255))
    return im  # jpeg25, png: the same pixels, encoded again


def plant_copies() -> None:
    for old in OUT.glob("*/zz_copy_*"):
        old.unlink()
    for edit, folder, name, target in COPIES:
        with Image.open(OUT / folder / name) as im:
            copy = edited(im.convert("RGB"), edit)
        out = OUT / target / f"zz_copy_{edit}__{Path(name).stem}"
        if edit == "png":
            copy.save(out.with_suffix(".png"), "PNG", optimize=True)
        else:
            copy.save(out.with_suffix(".jpg"), "JPEG", quality=25 if edit == "jpeg25" else QUALITY)
    print(f"{len(COPIES)} edited copies planted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=Path("/usr/share/openclipart/png"))
    parser.add_argument("--copies-only", action="store_true", help="only (re)write the copies")
    args = parser.parse_args()
    if args.copies_only:
        plant_copies()
        return
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
    plant_copies()


if __name__ == "__main__":
    main()
