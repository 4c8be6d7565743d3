from django.urls import re_path

from config.routers import OptionalSlashDefaultRouter
from curation.api.candidates import CandidateViewSet
from curation.api.images import ImageViewSet
from curation.api.ingest import ImportViewSet, SynsetQueriesView
from curation.api.jobs import JobViewSet
from curation.api.synsets import SynsetViewSet

router = OptionalSlashDefaultRouter()
router.register("synsets", SynsetViewSet, basename="synset")
router.register("jobs", JobViewSet, basename="job")
router.register("imports", ImportViewSet, basename="import")
router.register("images", ImageViewSet, basename="image")
router.register("candidates", CandidateViewSet, basename="candidate")

# Every route answers with or without its trailing slash (config/routers.py).
urlpatterns = [
    *router.urls,
    re_path(
        r"^synsets/(?P<wnid>n\d{8})/queries/?$", SynsetQueriesView.as_view(), name="synset-queries"
    ),
]
