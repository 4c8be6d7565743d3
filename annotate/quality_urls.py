"""Curator quality pages, included at /curate/quality/ by config/urls.py."""

from django.urls import path

from annotate.views import quality

app_name = "quality"

urlpatterns = [
    path("", quality.overview, name="overview"),
    path("recompute/", quality.recompute, name="recompute"),
    path("synsets/<str:wnid>/", quality.synset_page, name="synset"),
    path("candidates/<int:pk>/", quality.candidate_page, name="candidate"),
    path("gold/", quality.gold_set, name="gold"),
    path("adjudicate/", quality.adjudicate, name="adjudicate"),
    path("escalated/", quality.escalated_page, name="escalated"),
    path("annotators/", quality.annotators_page, name="annotators"),
    path("annotators/<int:pk>/", quality.annotator_page, name="annotator"),
    path("annotators/<int:pk>/status/", quality.annotator_status, name="annotator-status"),
    path("studies/", quality.studies_page, name="studies"),
    path("studies/<int:pk>/", quality.study_page, name="study"),
    path("import/", quality.import_page, name="import"),
]
