"""The demo's data: WordNet, a demo subtree, users per role (and, as the pipeline grows, sample
images, pre-labels and votes). Every step is idempotent, so `make demo` can run again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import Group, User
from django.db import transaction

from curation.models import Synset
from curation.services.jobs import followers_inline, job_create, job_run_inline
from curation.services.synsets import synsets_activate

# The sample set's synsets (one folder each under sample_data/images/; see its README).
DEMO_SYNSETS = [
    "n01503061",  # bird.n.01
    "n02159955",  # insect.n.01
    "n01861778",  # mammal.n.01
    "n07705931",  # edible_fruit.n.01
    "n07609840",  # dessert.n.01
    "n07881800",  # beverage.n.01
    "n03354903",  # flag.n.01
    "n11669921",  # flower.n.01
    "n03544360",  # house.n.01
    "n03800933",  # musical_instrument.n.01
]
SAMPLE_IMAGES = Path(__file__).resolve().parents[2] / "sample_data" / "images"
DEMO_TARGET = 100


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


DEMO_LOGINS = (
    DemoLogin("curator", "curator-demo", "curator"),
    DemoLogin("annotator", "annotator-demo", "annotator"),
)


def demo_users() -> list[DemoLogin]:
    with transaction.atomic():
        for login in DEMO_LOGINS:
            user, created = User.objects.get_or_create(username=login.username)
            if created or not user.check_password(login.password):
                user.set_password(login.password)
            user.is_staff = login.role == "curator"
            user.save()
            user.groups.add(Group.objects.get_or_create(name=login.role)[0])
    return list(DEMO_LOGINS)


def demo_wordnet(say: Callable[[str], None]) -> None:
    if Synset.objects.count() == 82_115:
        say("WordNet already imported")
        return
    say("importing WordNet 3.0 (about a minute)")
    job = job_run_inline(job=job_create(kind="import_wordnet"))
    if job.status != job.Status.SUCCEEDED:
        raise RuntimeError(job.error)


def demo_activate(say: Callable[[str], None]) -> None:
    summary = synsets_activate(identifiers=DEMO_SYNSETS, target=DEMO_TARGET)
    say(f"demo synsets active: {summary.matched} ({summary.changed} newly)")


def demo_ingest(say: Callable[[str], None]) -> None:
    """Ingest the bundled sample set, inline (the worker is not running yet); once only."""
    from curation.models import Job
    from curation.services.ingest import ingest_start

    done = Job.objects.filter(
        kind="ingest", status=Job.Status.SUCCEEDED, params__source=str(SAMPLE_IMAGES)
    ).exists()
    if done:
        say("sample images already ingested")
        return
    say(f"ingesting the sample images ({SAMPLE_IMAGES})")
    with followers_inline():  # ingest -> prelabel -> dedup, here: the worker is not up yet
        job = ingest_start(source=SAMPLE_IMAGES, source_name="sample_data", inline=True)
    summary = job.result.get("summary", {})
    if job.status != job.Status.SUCCEEDED:
        raise RuntimeError(f"ingesting the sample images failed: {job.error}")
    say(
        f"sample images: {summary.get('new_images', 0)} new images, "
        f"{summary.get('new_candidates', 0)} new candidates, {summary.get('errors', 0)} errors"
    )


def demo_annotate(say: Callable[[str], None]) -> None:
    """Labelled sample candidates, gold, a simulated crowd and a consensus run (annotate/)."""
    from annotate.services.demo import demo_annotation

    demo_annotation(say)


def demo_prepare(say: Callable[[str], None]) -> list[DemoLogin]:
    demo_wordnet(say)
    demo_activate(say)
    demo_ingest(say)
    logins = demo_users()
    demo_annotate(say)
    return logins
