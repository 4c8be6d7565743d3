from rest_framework.routers import DefaultRouter

from curation.api.jobs import JobViewSet
from curation.api.synsets import SynsetViewSet

router = DefaultRouter(trailing_slash="/?")
router.register("synsets", SynsetViewSet, basename="synset")
router.register("jobs", JobViewSet, basename="job")

urlpatterns = router.urls
