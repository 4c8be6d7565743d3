from django.urls import path

from curation.views import audit, dashboard, jobs, synsets

app_name = "curate"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("synsets/", synsets.synset_list, name="synset-list"),
    path("synsets/activate/", synsets.synset_activate, name="synset-activate"),
    path("synsets/import-wordnet/", synsets.wordnet_import, name="wordnet-import"),
    path("synsets/<str:wnid>/", synsets.synset_detail, name="synset-detail"),
    path("audit/", audit.audit_list, name="audit-list"),
    path("jobs/", jobs.job_list, name="job-list"),
    path("jobs/<int:pk>/", jobs.job_detail, name="job-detail"),
    path("jobs/<int:pk>/cancel/", jobs.job_cancel_view, name="job-cancel"),
]
