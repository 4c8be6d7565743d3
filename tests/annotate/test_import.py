"""import_votes: per-row problems with reasons, the rest imported, idempotent, hostile input."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command

from annotate.models import Annotator, Vote
from annotate.services.votes_import import VotesImportError, votes_import
from curation.models import Candidate, ImageOrigin
from tests.annotate.conftest import BIRD, INSECT

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def run(text: str | bytes, synset: str | None = None):  # type: ignore[no-untyped-def]
    data = text.encode() if isinstance(text, str) else text
    return votes_import(stream=io.BytesIO(data), synset=synset)


def test_import_by_sha_and_source_uri_with_wnid_column_and_labels(sample) -> None:
    bird, insect = sample.of(BIRD)[0], sample.of(INSECT)[0]
    uri = "https://example.org/crawl/bird 1.jpg"
    image_id = Candidate.objects.get(pk=bird.candidate_id).image_id
    ImageOrigin.objects.create(
        image_id=image_id, uri=uri, uri_hash=hashlib.sha1(uri.encode()).hexdigest()
    )
    text = (
        "\ufeffImage,Worker,Label,WNID\n"
        f"{bird.sha256.upper()},w1,YES,{BIRD}\n"
        f"{uri},w2,0,bird.n.01\n"
        f"{bird.sha256},w3,true,{BIRD}\n"
        f"{insect.sha256},w1,False,{INSECT}\n"
    )
    report = run(text)
    assert (report.rows, report.imported, report.problem_count) == (4, 4, 0), report.problems
    votes = Vote.objects.filter(candidate_id=bird.candidate_id)
    assert sorted(votes.values_list("annotator__external_id", "answer")) == [
        ("w1", True),
        ("w2", False),
        ("w3", True),
    ]
    assert all(v.source == "import" and v.assignment_id is None for v in votes)
    assert Annotator.objects.filter(platform="import").count() == 3
    candidate = Candidate.objects.get(pk=bird.candidate_id)
    assert (candidate.votes_yes, candidate.votes_no) == (2, 1)  # consensus counted them
    again = run(text)
    assert (again.imported, again.already) == (0, 4)
    assert Vote.objects.count() == 4


def test_unknown_rows_are_reported_and_the_rest_imported(sample) -> None:
    bird = sample.of(BIRD)[0]
    text = (
        "image,worker,label,wnid\n"
        f"{bird.sha256},ok1,yes,{BIRD}\n"
        f"{'f' * 64},ok2,yes,{BIRD}\n"  # unknown image
        f"{bird.sha256},ok3,yes,n99999999\n"  # unknown synset
        f"{bird.sha256},ok4,maybe,{BIRD}\n"  # bad label
        f"{bird.sha256},,yes,{BIRD}\n"  # empty worker
        f"{bird.sha256},ok5,yes\n"  # short row
        f"{bird.sha256},ok1,yes,{BIRD}\n"  # duplicate
        f"{bird.sha256},ok1,no,{BIRD}\n"  # contradiction
        "\n"
        f"{bird.sha256},ok6,1,{BIRD}\n"
    )
    report = run(text)
    assert report.imported == 2
    reasons = {p.line: p.reason for p in report.problems}
    assert reasons[3].startswith("unknown image")
    assert reasons[4] == "unknown synset 'n99999999'"
    assert reasons[5].startswith("unknown label 'maybe'")
    assert reasons[6].startswith("invalid worker id")
    assert reasons[7].startswith("expected at least 4 columns")
    assert reasons[8] == "duplicate of line 2"
    assert reasons[9] == "contradicts line 2 (kept the first)"
    assert report.duplicates == 1


def test_candidate_created_for_a_known_image_and_new_synset(sample) -> None:
    bird = sample.of(BIRD)[0]
    report = run(f"image,worker,label\n{bird.sha256},w1,no\n", synset="vertebrate.n.01")
    assert report.imported == 1 and report.candidates_created == 1
    created = Candidate.objects.get(synset__name="vertebrate.n.01")
    assert created.source == "import_votes" and created.votes_no == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"image,worker\n", "missing column(s): label, wnid (or pass a synset for the file)"),
        (b"foo\n1\n", "missing column(s): image, worker, label"),
    ],
)
def test_files_refused_as_a_whole_store_nothing(sample, data: bytes, message: str) -> None:
    with pytest.raises(VotesImportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(data)
    assert Vote.objects.count() == 0


def test_hostile_input(sample) -> None:
    bird = sample.of(BIRD)[0]
    good = f"{bird.sha256},fine,yes\n".encode()
    data = (
        b"image,worker,label\n"
        + f"{bird.sha256},caf\xe9,yes\n".encode("latin-1")  # not UTF-8
        + f'{bird.sha256},=HYPERLINK("http://x"),yes\n'.encode()  # formula injection
        + f"{bird.sha256},@SUM(A1),yes\n".encode()
        + f"{bird.sha256},+1,yes\n".encode()
        + f"{bird.sha256},{'w' * 5000},yes\n".encode()  # huge field
        + f"{'a' * 100_000},w9,yes\n".encode()  # huge image field
        + f"{bird.sha256},nul\x00byte,yes\n".encode()  # NUL
        + f"{bird.sha256},<script>alert(1)</script>,yes\n".encode()
        + good
    )
    report = run(data, synset=BIRD)
    assert report.imported == 1
    reasons = [p.reason for p in report.problems]
    assert "not valid UTF-8" in reasons
    assert sum(r.startswith("invalid worker id") for r in reasons) >= 4
    assert any(r.startswith("field too long") for r in reasons)
    assert report.problem_count == 8
    assert list(
        Annotator.objects.filter(platform="import").values_list("external_id", flat=True)
    ) == ["fine"]


def test_unknown_synset_for_the_whole_file(sample) -> None:
    with pytest.raises(VotesImportError, match="unknown synset"):
        run("image,worker,label\n", synset="n00000000")


def test_command_prints_a_summary_and_is_idempotent(sample, tmp_path) -> None:
    bird = sample.of(BIRD)[0]
    path = tmp_path / "votes.csv"
    path.write_text(f"image,worker,label\n{bird.sha256},a1,yes\n{'0' * 64},a2,no\n")
    out = io.StringIO()
    call_command("import_votes", str(path), "--synset", BIRD, stdout=out)
    text = out.getvalue()
    assert "votes imported             1" in text and "line 3: unknown image" in text
    out = io.StringIO()
    call_command("import_votes", str(path), "--synset", BIRD, stdout=out)
    assert "votes imported             0" in out.getvalue()
    assert "already present            1" in out.getvalue()
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_votes", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="missing column"):
        bad = tmp_path / "bad.csv"
        bad.write_text("x,y\n")
        call_command("import_votes", str(bad))
