"""Enumerating sources: folders (streamed), URL lists, CSV manifests, and telling them apart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from curation.ingest.entries import folder_synset_key
from curation.ingest.reasons import Reason
from curation.ingest.sources import (
    SourceError,
    detect_source,
    iter_folder,
    iter_manifest,
    iter_url_list,
    parse_url_line,
)
from tests.ingest.conftest import jpeg, write

pytestmark = pytest.mark.sqlite


def test_detect_source_by_content(tmp_path: Path) -> None:
    import tarfile
    import zipfile

    (tmp_path / "folder").mkdir()
    write(tmp_path / "a.jpg", jpeg(1))
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as z:
        z.writestr("n02084071/a.jpg", jpeg(1))
    with tarfile.open(tmp_path / "x.tgz", "w:gz") as t:
        t.add(tmp_path / "a.jpg", arcname="n02084071/a.jpg")
    write(tmp_path / "list.txt", b"http://example.org/a.jpg\n")
    write(tmp_path / "urls.data", b"# comment\nn02084071\thttps://example.org/a.jpg\n")
    write(tmp_path / "m.csv", b"path_or_url,wnid,query\na.jpg,n02084071,dog\n")
    write(tmp_path / "manifest.dat", b"path_or_url,wnid\na.jpg,n02084071\n")
    write(tmp_path / "mystery.bin", bytes(range(256)) * 4)
    kinds = {
        name: detect_source(tmp_path / name).kind
        for name in ["folder", "a.jpg", "x.zip", "x.tgz", "list.txt", "urls.data", "m.csv",
                     "manifest.dat"]
    }  # fmt: skip
    assert kinds == {
        "folder": "folder", "a.jpg": "image", "x.zip": "zip", "x.tgz": "tar",
        "list.txt": "url_list", "urls.data": "url_list", "m.csv": "manifest",
        "manifest.dat": "manifest",
    }  # fmt: skip
    with pytest.raises(SourceError, match="cannot tell what"):
        detect_source(tmp_path / "mystery.bin")
    with pytest.raises(SourceError, match="no such file or folder"):
        detect_source(tmp_path / "missing")
    with pytest.raises(SourceError, match="is a URL"):
        detect_source("https://example.org/list.txt")


def test_folder_synset_key() -> None:
    assert folder_synset_key(["n02084071", "a.jpg"]) == "n02084071"
    assert folder_synset_key(["wrapper", "dog.n.01", "sub", "a.jpg"]) == "dog.n.01"
    assert folder_synset_key(["dogs", "a.jpg"]) == "dogs"  # to be refused with close matches
    assert folder_synset_key(["a.jpg"]) is None


def test_folder_enumeration_names_links_and_specials(tmp_path: Path) -> None:
    root = tmp_path / "src"
    write(root / "n02084071" / "with space é ☃.jpg", b"x")
    write(root / "n02084071" / "new\nline.jpg", b"x")
    write(root / "n02084071" / ".hidden.jpg", b"x")
    write(root / "n02084071" / "Thumbs.db", b"x")
    write(root / "loose.jpg", b"x")
    write(tmp_path / "outside.jpg", b"x")
    os.symlink(tmp_path / "outside.jpg", root / "n02084071" / "escape.jpg")
    os.symlink(root / "loose.jpg", root / "n02084071" / "inside.jpg")
    os.mkfifo(root / "n02084071" / "pipe.jpg")
    ignored: list[int] = []
    entries = {
        e.uri: e for e in iter_folder(root, per_synset=True, on_ignored=lambda: ignored.append(1))
    }
    assert len(ignored) == 2  # .hidden.jpg and Thumbs.db: never candidates, never errors
    assert entries["n02084071/with space é ☃.jpg"].error is None
    assert entries["n02084071/new\nline.jpg"].error is None
    assert entries["n02084071/new\nline.jpg"].synset_key == "n02084071"
    assert entries["loose.jpg"].error[0] == Reason.NO_SYNSET
    assert entries["n02084071/escape.jpg"].error[0] == Reason.UNSAFE_PATH
    assert entries["n02084071/inside.jpg"].error is None
    assert entries["n02084071/inside.jpg"].path == str((root / "loose.jpg").resolve())
    assert entries["n02084071/pipe.jpg"].error[0] == Reason.SPECIAL_ENTRY


def test_folder_names_that_are_not_utf8_are_errors(tmp_path: Path) -> None:
    root = tmp_path / "src"
    (root / "n02084071").mkdir(parents=True)
    bad = os.fsencode(root / "n02084071") + b"/caf\xe9.jpg"
    with open(bad, "wb") as f:
        f.write(b"x")
    (entry,) = list(iter_folder(root, per_synset=True))
    assert entry.error[0] == Reason.BAD_NAME
    assert "caf\\udce9" in entry.uri or "caf\\xe9" in entry.uri


def test_folder_enumeration_is_a_stream(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    root.mkdir()
    for i in range(300):
        (root / f"{i}.jpg").write_bytes(b"x")
    stream = iter_folder(root, per_synset=False)
    first = next(stream)
    assert first.uri.endswith(".jpg") and first.synset_key is None
    assert sum(1 for _ in stream) == 299


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("http://a.org/x.jpg", (None, "http://a.org/x.jpg", "")),
        ("n02084071\thttp://a.org/x.jpg", ("n02084071", "http://a.org/x.jpg", "")),
        (
            "n02084071\thttp://a.org/x.jpg\thusky dog",
            ("n02084071", "http://a.org/x.jpg", "husky dog"),
        ),
        ("n02084071_1234\thttp://a.org/x.jpg", ("n02084071", "http://a.org/x.jpg", "")),
        ("dog.n.01 http://a.org/x.jpg", ("dog.n.01", "http://a.org/x.jpg", "")),
    ],
)
def test_parse_url_line(line: str, parsed: tuple[str | None, str, str]) -> None:
    assert parse_url_line(line) == parsed


def test_url_list_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "urls.txt",
        "\ufeff# a comment\n\n"
        "http://a.org/1.jpg\n"
        "n02084071\thttps://a.org/2.jpg\tdog\n"
        "file:///etc/passwd\n"
        "ftp://a.org/3.jpg\n"
        "not a url at all\n"
        "http://a.org/has space.jpg extra\n".encode()
        + b"\xff\xfe broken\n"
        + b"http://a.org/nul\x00.jpg\n",
    )
    entries = list(iter_url_list(path))
    assert [e.url for e in entries[:2]] == ["http://a.org/1.jpg", "https://a.org/2.jpg"]
    assert entries[1].synset_key == "n02084071" and entries[1].query == "dog"
    reasons = [e.error[0] if e.error else None for e in entries]
    assert reasons == [
        None, None, Reason.URL_SCHEME, Reason.URL_SCHEME, Reason.BAD_LINE, Reason.BAD_LINE,
        Reason.BAD_LINE, Reason.BAD_LINE,
    ]  # fmt: skip
    assert "line 5" in entries[2].error[1] and "file://" in entries[2].error[1]
    assert all("\x00" not in e.uri for e in entries)


def test_manifest_rows_and_path_safety(tmp_path: Path) -> None:
    base = tmp_path / "m"
    write(base / "imgs" / "a.jpg", b"x")
    path = write(
        base / "manifest.csv",
        b"path_or_url,wnid,query\n"
        b"imgs/a.jpg,n02084071,husky dog\n"
        b"https://a.org/b.jpg,dog.n.01,\n"
        b"../outside.jpg,n02084071,\n"
        b"/etc/passwd,n02084071,\n"
        b",n02084071,\n"
        b'"name, with comma.jpg",n02084071,q\n',
    )
    rows = list(iter_manifest(path, trusted=False))
    assert rows[0].path == str((base / "imgs" / "a.jpg").resolve())
    assert rows[0].synset_key == "n02084071" and rows[0].query == "husky dog"
    assert rows[1].url == "https://a.org/b.jpg" and rows[1].synset_key == "dog.n.01"
    assert rows[2].error[0] == Reason.UNSAFE_PATH
    assert rows[3].error[0] == Reason.UNSAFE_PATH
    assert rows[4].error[0] == Reason.BAD_LINE
    assert rows[5].uri == "name, with comma.jpg"
    trusted = list(iter_manifest(path, trusted=True))
    assert trusted[3].error is None and trusted[3].path == "/etc/passwd"


def test_manifest_without_header_is_positional(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", b"a.jpg,n02084071,q1\nb.jpg\n")
    rows = list(iter_manifest(path, trusted=False))
    assert [(r.uri, r.synset_key, r.query) for r in rows] == [
        ("a.jpg", "n02084071", "q1"),
        ("b.jpg", None, ""),
    ]
