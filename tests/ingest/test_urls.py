"""URL lists against a local HTTP server: every failure mode has its reason; SSRF is refused."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from curation.ingest.fetch import SafeFetcher, address_problem
from curation.ingest.limits import Limits, parse_networks
from curation.ingest.reasons import IngestError, Reason
from curation.models import Candidate, Image, IngestItem, Job
from tests.ingest.conftest import DOG, Routes, jpeg, write

pytestmark = pytest.mark.django_db


def run_list(tmp_path: Path, lines: list[str], **kw: object) -> tuple[Job, dict[str, IngestItem]]:
    from curation.services.ingest import ingest_start

    path = write(tmp_path / "urls.txt", ("\n".join(lines) + "\n").encode())
    job = ingest_start(source=path, inline=True, **kw)  # type: ignore[arg-type]
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job, {i.uri: i for i in IngestItem.objects.filter(job=job)}


def test_url_list_failure_modes_each_have_a_reason(
    tmp_path: Path, media_root: Path, http_server: str
) -> None:
    base = http_server
    lines = {
        f"{base}/img/1.jpg": "",
        f"{base}/img/2.jpg": "",
        f"{base}/flaky/a": "",  # a 503, then the image: retried
        f"{base}/redirect?to={quote(base + '/img/3.jpg')}": "",  # redirects are followed
        f"{base}/status/404": "http_error",
        f"{base}/status/500": "http_error",
        f"{base}/sleep": "timeout",
        f"{base}/big": "file_too_large",
        f"{base}/html-as-jpeg": "not_an_image",
        f"{base}/redirect?to={quote('http://127.0.0.1:9/x.jpg')}": "url_blocked",
        f"{base}/redirect?to={quote('http://169.254.169.254/latest/meta-data/')}": "url_blocked",
        f"{base}/redirect?to={quote('ftp://example.org/x.jpg')}": "url_scheme",
        "file:///etc/passwd": "url_scheme",
        "ftp://example.org/x.jpg": "url_scheme",
    }
    started = time.monotonic()
    job, got = run_list(tmp_path, [f"{DOG}\t{url}" for url in lines])
    assert time.monotonic() - started < 30  # the never-answering URL does not hold the batch
    for url, reason in lines.items():
        assert got[url].reason == reason, (url, got[url].message)
    assert "HTTP 404" in got[f"{base}/status/404"].message
    assert "after 3 tries" in got[f"{base}/status/500"].message  # bounded retries on 5xx
    assert Routes.hits["/status/500"] == 3 and Routes.hits["/flaky/a"] == 2
    assert "served as image/jpeg" in got[f"{base}/html-as-jpeg"].message
    assert "stopped reading" in got[f"{base}/big"].message
    assert "loopback" in got[f"{base}/redirect?to={quote('http://127.0.0.1:9/x.jpg')}"].message
    meta = got[f"{base}/redirect?to={quote('http://169.254.169.254/latest/meta-data/')}"]
    assert "link-local" in meta.message
    assert Image.objects.count() == 4
    # Each URL is kept exactly as given, as the image's origin.
    image = Image.objects.get(origins__uri=f"{base}/img/1.jpg")
    assert image.candidates.get().synset.wnid == DOG
    assert job.result["summary"]["errors"] == len(lines) - 4


def test_ssrf_refused_without_allow_list(
    tmp_path: Path, media_root: Path, http_server: str, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.INGEST_URL_ALLOW_NETWORKS = []  # the default: nothing internal is reachable
    port = http_server.rsplit(":", 1)[1]
    lines = [
        f"http://127.0.0.1:{port}/img/1.jpg",
        f"http://localhost:{port}/img/1.jpg",  # a DNS name resolving to loopback
        f"{http_server}/img/1.jpg",  # 127.0.0.2: loopback too, now refused
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x.jpg",
        "http://10.1.2.3/x.jpg",
        "http://0.0.0.0/x.jpg",
    ]
    _, got = run_list(tmp_path, lines, synset=DOG)
    for url in lines:
        assert got[url].reason == "url_blocked", (url, got[url].message)
    assert "localhost (127.0.0.1)" in got[lines[1]].message
    assert not any(path.startswith("/img/") for path in Routes.hits)  # never connected
    assert Image.objects.count() == 0


def test_dns_answers_are_checked_at_connect_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A public-looking name that resolves to the metadata address is refused."""
    real = socket.getaddrinfo

    def fake(host, *args, **kw):  # type: ignore[no-untyped-def]
        if host == "images.example.org":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(IngestError) as info:
        SafeFetcher(Limits()).fetch("http://images.example.org/cat.jpg")
    assert info.value.reason == Reason.URL_BLOCKED
    assert "images.example.org (169.254.169.254)" in info.value.message


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fd00:ec2::254", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("2002:7f00:1::1", False),  # 6to4 wrapping 127.0.0.1
    ],
)
def test_address_policy(address: str, allowed: bool) -> None:
    import ipaddress

    assert (address_problem(ipaddress.ip_address(address), ()) is None) == allowed


def test_allow_list_admits_only_what_it_names() -> None:
    import ipaddress

    allow = parse_networks(["10.20.0.0/16", "127.0.0.2"])
    assert address_problem(ipaddress.ip_address("10.20.3.4"), allow) is None
    assert address_problem(ipaddress.ip_address("127.0.0.2"), allow) is None
    assert address_problem(ipaddress.ip_address("10.21.0.1"), allow) is not None
    assert address_problem(ipaddress.ip_address("127.0.0.1"), allow) is not None


def test_per_host_concurrency_is_bounded(
    tmp_path: Path, media_root: Path, http_server: str, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.INGEST_URL_PER_HOST = 2
    settings.INGEST_URL_THREADS = 8
    lines = [f"{http_server}/slow/{i}.jpg" for i in range(10)]
    job, got = run_list(tmp_path, lines, synset=DOG)
    assert all(item.status == "done" for item in got.values())
    assert Routes.max_in_flight == 2
    assert Candidate.objects.filter(job=job).count() == 10


def test_url_list_chunks_are_small_and_rerun_adds_nothing(
    tmp_path: Path, media_root: Path, http_server: str, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.INGEST_URL_CHUNK_SIZE = 3
    lines = [f"{DOG}\t{http_server}/img/{i}.jpg\tdog photo" for i in range(7)]
    first, _ = run_list(tmp_path, lines)
    assert first.result["chunks"] == 3
    assert set(Candidate.objects.values_list("query", flat=True)) == {"dog photo"}
    second, _ = run_list(tmp_path, lines)
    assert second.result["summary"]["already_known"] == 7
    assert second.result["summary"]["new_images"] == 0
    assert Image.objects.count() == 7
    assert jpeg(0)  # the server's bytes are deterministic
