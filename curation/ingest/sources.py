"""Sources of candidates, enumerated as a stream of entries (memory stays flat at any size).

Kinds: a folder (one subfolder per synset, named by wnid or synset name; or flat with a synset
given), an archive (see archives.py), a single image, a URL list (`url`, or `wnid<TAB>url`, with
an optional third column for the query; ImageNet's `n02084071_123<TAB>url` works too), and a CSV
manifest (`path_or_url,wnid,query`, header optional).
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from curation.ingest.archives import archive_kind
from curation.ingest.entries import (
    IMAGENET_ID_RE,
    NO_SYNSET_MESSAGE,
    Entry,
    folder_synset_key,
    is_junk,
    safe_uri,
)
from curation.ingest.magic import EXTENSIONS, sniff
from curation.ingest.reasons import Reason, db_safe_text, printable

MAX_URL_LENGTH = 8192
URL_LIST_SUFFIXES = {".txt", ".tsv", ".urls", ".lst", ".list"}
MANIFEST_COLUMNS = {
    "path_or_url": "path_or_url",
    "path": "path_or_url",
    "url": "path_or_url",
    "file": "path_or_url",
    "wnid": "wnid",
    "synset": "wnid",
    "query": "query",
}


class SourceError(Exception):
    """The source as a whole cannot be used (nothing was started)."""


@dataclass(frozen=True)
class SourceInfo:
    kind: str  # folder | zip | tar | image | url_list | manifest
    path: Path
    name: str

    @property
    def is_archive(self) -> bool:
        return self.kind in ("zip", "tar")


def detect_source(source: str | Path) -> SourceInfo:
    """What `source` is, from the file system and the bytes (not from its name alone)."""
    text = str(source)
    if text.startswith(("http://", "https://", "ftp://", "file://")):
        raise SourceError(
            f"{text!r} is a URL; save the URL list to a file and ingest that file, "
            "or pass the URLs to the API as a list"
        )
    path = Path(text).expanduser()
    if not path.exists():
        raise SourceError(f"no such file or folder: {text}")
    path = path.resolve()
    name = path.name or str(path)
    if path.is_dir():
        return SourceInfo("folder", path, name)
    if not path.is_file():
        raise SourceError(f"{text} is not a regular file or folder")
    kind = archive_kind(path)
    if kind:
        return SourceInfo(kind, path, name)
    with open(path, "rb") as f:
        head = f.read(8192)
    sniffed = sniff(head)
    if sniffed in EXTENSIONS:
        return SourceInfo("image", path, name)
    if path.suffix.lower() == ".csv":
        return SourceInfo("manifest", path, name)
    if sniffed == "text":
        first = _first_content_line(head)
        if "path_or_url" in first.lower():
            return SourceInfo("manifest", path, name)
        if "://" in first or path.suffix.lower() in URL_LIST_SUFFIXES:
            return SourceInfo("url_list", path, name)
    raise SourceError(
        f"cannot tell what {text} is: expected a folder, a .zip/.tar/.tar.gz archive, an image, "
        "a URL list (one URL, or wnid<TAB>URL, per line) or a CSV manifest (path_or_url,wnid,query)"
    )


def _first_content_line(head: bytes) -> str:
    for raw in head.decode("utf-8", "replace").lstrip("\ufeff").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            return line
    return ""


# --- folders ----------------------------------------------------------------------------------


def iter_folder(
    root: Path, *, per_synset: bool, on_ignored: Callable[[], None] = lambda: None
) -> Iterator[Entry]:
    """Every file under `root`, streamed directory by directory (never a full listing)."""
    root_real = os.path.realpath(root)
    stack: list[tuple[str, list[str]]] = [(str(root), [])]
    while stack:
        folder, parts = stack.pop()
        subfolders: list[tuple[str, str]] = []
        try:
            entries = os.scandir(folder)
        except OSError as exc:
            rel = "/".join(parts) or "."
            yield Entry(uri=rel + "/", error=(Reason.READ_ERROR, f"folder cannot be read: {exc}"))
            continue
        with entries:
            for entry in entries:
                name = entry.name
                if is_junk(name):
                    if not entry.is_dir(follow_symlinks=False):
                        on_ignored()
                    continue
                rel_parts = [*parts, name]
                uri, bad = safe_uri("/".join(rel_parts))
                try:
                    mode = entry.stat(follow_symlinks=False).st_mode
                except OSError as exc:
                    yield Entry(uri=uri, error=(Reason.READ_ERROR, f"cannot stat: {exc}"))
                    continue
                if stat.S_ISDIR(mode):
                    if bad:
                        yield Entry(
                            uri=uri + "/",
                            error=(bad[0], bad[1] + " (folder not read)"),
                        )
                    else:
                        subfolders.append((entry.path, name))
                    continue
                key = folder_synset_key(rel_parts) if per_synset else None
                item = Entry(uri=uri, path=entry.path, synset_key=key, error=bad)
                if item.error is None:
                    item.error = _file_problem(entry.path, mode, root_real)
                    if item.error is None and stat.S_ISLNK(mode):
                        item.path = os.path.realpath(entry.path)
                if item.error is None and per_synset and key is None:
                    item.error = (Reason.NO_SYNSET, NO_SYNSET_MESSAGE)
                if item.error is not None:
                    item.path = ""
                yield item
        # Depth first, sub-folders in name order (they are few; files are streamed unsorted).
        for path, name in sorted(subfolders, key=lambda pair: pair[1], reverse=True):
            stack.append((path, [*parts, name]))


def _file_problem(path: str, mode: int, root_real: str) -> tuple[Reason, str] | None:
    if stat.S_ISLNK(mode):
        target = os.path.realpath(path)
        if os.path.isdir(target):
            return Reason.LINK_ENTRY, "symbolic link to a folder is not followed"
        if os.path.commonpath([root_real, target]) != root_real:
            return Reason.UNSAFE_PATH, "symbolic link points outside the source folder; refused"
        if not os.path.isfile(target):
            return Reason.READ_ERROR, "symbolic link points to nothing readable"
        return None
    if not stat.S_ISREG(mode):
        return Reason.SPECIAL_ENTRY, "device, FIFO or socket, not a file; refused"
    return None


def iter_single_image(path: Path) -> Iterator[Entry]:
    yield Entry(uri=path.name, path=str(path))


# --- URL lists --------------------------------------------------------------------------------


def url_problem(url: str) -> tuple[Reason, str] | None:
    """Plan-time checks of a URL's form (the fetcher checks addresses when it connects)."""
    if len(url) > MAX_URL_LENGTH:
        return Reason.BAD_LINE, f"URL longer than {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return Reason.BAD_LINE, f"not a valid URL: {exc}"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        if not scheme or "://" not in url:
            return Reason.BAD_LINE, f"not a URL: {printable(url)!r}"
        return Reason.URL_SCHEME, f"only http:// and https:// URLs are fetched, not {scheme}://"
    if not parts.hostname:
        return Reason.BAD_LINE, f"URL has no host: {printable(url)!r}"
    if any(c.isspace() for c in url):
        return Reason.BAD_LINE, "URL contains spaces"
    return None


def _url_entry(url: str, key: str | None, query: str, where: str) -> Entry:
    uri, bad = safe_uri(url)
    problem = bad or url_problem(url)
    if problem:
        return Entry(uri=uri, error=(problem[0], f"{where}: {problem[1]}"))
    return Entry(uri=uri, url=url, synset_key=key, query=query[:255])


def parse_url_line(line: str) -> tuple[str | None, str, str]:
    """(synset key or None, url, query) from `url` or `wnid<TAB>url[<TAB>query]` (or spaces)."""
    fields = [f.strip() for f in line.split("\t")] if "\t" in line else line.split(None, 2)
    if len(fields) == 1:
        return None, fields[0], ""
    first = fields[0]
    imagenet = IMAGENET_ID_RE.match(first)
    if imagenet:
        first = imagenet.group(1)
    if "://" in first:
        raise ValueError("expected `url` or `wnid<TAB>url` (the synset comes first)")
    return first, fields[1], fields[2] if len(fields) > 2 else ""


def iter_url_list(path: Path) -> Iterator[Entry]:
    """One entry per URL line; blank lines and #comments are skipped. Streamed line by line."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                shown = printable(raw.decode("utf-8", "replace").strip())
                yield Entry(
                    uri=f"line {number}: {shown}",
                    error=(Reason.BAD_LINE, f"line {number} is not UTF-8 text"),
                )
                continue
            if number == 1:
                line = line.lstrip("\ufeff")
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            where = f"line {number}"
            if not db_safe_text(line):
                yield Entry(
                    uri=f"{where}: {printable(line)}",
                    error=(Reason.BAD_LINE, f"{where} contains a NUL character"),
                )
                continue
            try:
                key, url, query = parse_url_line(line)
            except ValueError as exc:
                yield Entry(uri=line[:MAX_URL_LENGTH], error=(Reason.BAD_LINE, f"{where}: {exc}"))
                continue
            yield _url_entry(url, key, query, where)


# --- CSV manifests ----------------------------------------------------------------------------


def iter_manifest(path: Path, *, trusted: bool) -> Iterator[Entry]:
    """Rows `path_or_url,wnid,query`; local paths are relative to the manifest's folder (and,
    unless the manifest is trusted, must stay inside it)."""
    base = path.parent.resolve()
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)
        columns = {"path_or_url": 0, "wnid": 1, "query": 2}
        number = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                number = reader.line_num
                yield Entry(
                    uri=f"row {number}",
                    error=(Reason.BAD_LINE, f"row {number} cannot be parsed: {exc}"),
                )
                continue
            number += 1
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if number == 1 and any(c.lower() in MANIFEST_COLUMNS for c in cells):
                header = {
                    MANIFEST_COLUMNS[c.lower()]: i
                    for i, c in enumerate(cells)
                    if c.lower() in MANIFEST_COLUMNS
                }
                if "path_or_url" in header:
                    columns = header
                    continue
            yield _manifest_entry(
                _cell(cells, columns, "path_or_url"),
                _cell(cells, columns, "wnid") or None,
                _cell(cells, columns, "query"),
                number,
                base,
                trusted,
            )


def _cell(cells: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    return cells[index] if index is not None and index < len(cells) else ""


def _manifest_entry(
    value: str, key: str | None, query: str, number: int, base: Path, trusted: bool
) -> Entry:
    where = f"row {number}"
    if not value:
        return Entry(uri=where, error=(Reason.BAD_LINE, f"{where}: path_or_url is empty"))
    if not db_safe_text(value):
        return Entry(
            uri=f"{where}: {printable(value)}",
            error=(Reason.BAD_LINE, f"{where} contains a NUL character"),
        )
    if key is not None:
        imagenet = IMAGENET_ID_RE.match(key)
        key = imagenet.group(1) if imagenet else key
    if "://" in value:
        return _url_entry(value, key, query, where)
    candidate = Path(value).expanduser()
    if candidate.is_absolute() and not trusted:
        return Entry(
            uri=value,
            error=(
                Reason.UNSAFE_PATH,
                f"{where}: absolute paths are refused in uploaded manifests",
            ),
        )
    resolved = Path(os.path.realpath(base / candidate))
    if not trusted and os.path.commonpath([str(base), str(resolved)]) != str(base):
        return Entry(
            uri=value,
            error=(Reason.UNSAFE_PATH, f"{where}: path leaves the manifest's folder; refused"),
        )
    return Entry(uri=value, path=str(resolved), synset_key=key, query=query[:255])
