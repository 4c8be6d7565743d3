"""A curator reads the quality charts in real headless Chromium: every bar is drawn as tall as
its count says (the progress bars' `.bar { height: 10px }` once drew every histogram bar 10 px
tall, whatever its value)."""

from __future__ import annotations

import pytest

from annotate.services.annotators import annotators_fit
from annotate.services.consensus import consensus_synset
from annotate.services.queue import queue_sync
from annotate.services.sample import sample_candidates
from annotate.services.simulate import Truth, crowd_pool, run_local, sim_users
from curation.models import Synset
from tests.conftest import make_user
from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.e2e

BIRD, INSECT = "n01503061", "n02159955"

# Each chart rect's drawn height against the height its attributes give it (viewBox units
# scaled as preserveAspectRatio scales them: uniformly, by the smaller ratio).
HEIGHTS = """
() => [...document.querySelectorAll("svg.chart")].flatMap((svg) => {
  const box = svg.getBoundingClientRect(), view = svg.viewBox.baseVal;
  const scale = Math.min(box.width / view.width, box.height / view.height);
  return [...svg.querySelectorAll("rect[height]")].map((r) => ({
    drawn: r.getBoundingClientRect().height,
    given: parseFloat(r.getAttribute("height")) * scale,
    title: (r.querySelector("title") || {}).textContent || "",
  }));
})
"""


def test_quality_histogram_bars_are_drawn_to_their_counts(web_server, page, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ANNOTATE_TASK_SIZE = 12
    settings.ANNOTATE_GOLD_FRACTION = 0.0
    settings.ANNOTATE_ONBOARDING_GOLD = 0
    settings.ANNOTATE_CALIBRATION_SIZE = 0
    settings.ANNOTATE_CONSENSUS_METHOD = "dynamic_weighted"
    items = sample_candidates(wnids=[BIRD, INSECT], positives=10, negatives=6, seed=1)
    queue_sync(full=True)
    workers = crowd_pool(12, accuracy=(0.75, 0.95), spammers=0.1, seed=4)
    users = sim_users(workers)
    truth = Truth(labels={(i.sha256, i.wnid): i.truth for i in items})
    for _ in range(2):
        run_local(workers, {w.name: users[w.name][0] for w in workers}, truth, seed=2)
        annotators_fit()
        for synset in Synset.objects.filter(wnid__in=[BIRD, INSECT]):
            consensus_synset(synset_id=synset.pk, force=True)

    make_user("cora", "curator")
    login(page, web_server.url, "cora", "pw-cora")
    page.goto(f"{web_server.url}/curate/quality/")
    bars = page.evaluate(HEIGHTS)
    tall = [b for b in bars if b["given"] > 12]
    assert tall, "the histogram has no bar taller than 12 px: nothing to check"
    wrong = [b for b in bars if abs(b["drawn"] - b["given"]) > 1.0]
    assert not wrong, wrong
    screenshot(page, "quality-charts")
