from django.urls import re_path

from annotate.api import quality, studies, tasks, votes
from config.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("quality/synsets", quality.SynsetQualityViewSet, basename="quality-synset")
router.register("quality/annotators", quality.AnnotatorViewSet, basename="quality-annotator")
router.register("quality/gold", quality.GoldViewSet, basename="quality-gold")
router.register("quality/studies", studies.StudyViewSet, basename="quality-study")


def _route(pattern: str, view, name: str):  # type: ignore[no-untyped-def]
    """A route that answers with or without its trailing slash, like the routers'."""
    return re_path(rf"^{pattern}/?$", view, name=name)


urlpatterns = [
    # Annotators: the only API they reach.
    _route("annotate/next-task", tasks.next_task, "annotate-next-task"),
    _route("annotate/me", tasks.me, "annotate-me"),
    _route(r"annotate/tasks/(?P<token>[^/]+)/submit", tasks.submit, "annotate-submit"),
    _route(r"annotate/tasks/(?P<token>[^/]+)/heartbeat", tasks.heartbeat, "annotate-heartbeat"),
    # Curators.
    _route("votes/import", votes.votes_import_view, "votes-import"),
    _route("quality/escalated", quality.escalated_list, "quality-escalated"),
    _route("quality/adjudicate", quality.adjudicate, "quality-adjudicate"),
    _route("quality/consensus", quality.consensus_run, "quality-consensus"),
    _route("quality/histogram", quality.histogram, "quality-histogram"),
    *router.urls,
]
