"""The demo's data: WordNet, a demo subtree, users per role (and, as the pipeline grows, sample
images, pre-labels and votes). Every step is idempotent, so `make demo` can run again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.db import transaction

from curation.models import Synset
from curation.services.jobs import job_create, job_run_inline
from curation.services.synsets import synsets_activate

# The sample set's synsets (one folder each under sample_data/images/).
DEMO_SYNSETS = ["n02084071", "n02121620", "n01503061", "n02958343", "n03001627"]
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


def demo_annotate(say: Callable[[str], None]) -> None:
    """Labelled sample candidates, gold, a simulated crowd and a consensus run (annotate/)."""
    from annotate.services.demo import demo_annotation

    demo_annotation(say)


def demo_prepare(say: Callable[[str], None]) -> list[DemoLogin]:
    demo_wordnet(say)
    demo_activate(say)
    logins = demo_users()
    demo_annotate(say)
    return logins
