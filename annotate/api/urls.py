from django.urls import path
from rest_framework.routers import SimpleRouter

from annotate.api import quality, studies, tasks, votes

router = SimpleRouter(trailing_slash="/?")
router.register("quality/synsets", quality.SynsetQualityViewSet, basename="quality-synset")
router.register("quality/annotators", quality.AnnotatorViewSet, basename="quality-annotator")
router.register("quality/gold", quality.GoldViewSet, basename="quality-gold")
router.register("quality/studies", studies.StudyViewSet, basename="quality-study")

urlpatterns = [
    # Annotators: the only API they reach.
    path("annotate/next-task", tasks.next_task, name="annotate-next-task"),
    path("annotate/me", tasks.me, name="annotate-me"),
    path("annotate/tasks/<str:token>/submit", tasks.submit, name="annotate-submit"),
    path("annotate/tasks/<str:token>/heartbeat", tasks.heartbeat, name="annotate-heartbeat"),
    # Curators.
    path("votes/import", votes.votes_import_view, name="votes-import"),
    path("quality/escalated/", quality.escalated_list, name="quality-escalated"),
    path("quality/adjudicate/", quality.adjudicate, name="quality-adjudicate"),
    path("quality/consensus/", quality.consensus_run, name="quality-consensus"),
    path("quality/histogram/", quality.histogram, name="quality-histogram"),
    *router.urls,
]
