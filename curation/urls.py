from django.urls import path, re_path

from curation.views import (
    audit,
    candidates,
    dashboard,
    duplicates,
    exports,
    images,
    ingest,
    jobs,
    prelabel,
    queries,
    runs,
    synsets,
)

app_name = "curate"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("synsets/", synsets.synset_list, name="synset-list"),
    path("synsets/activate/", synsets.synset_activate, name="synset-activate"),
    path("synsets/import-wordnet/", synsets.wordnet_import, name="wordnet-import"),
    path("synsets/<str:wnid>/", synsets.synset_detail, name="synset-detail"),
    path("audit/", audit.audit_list, name="audit-list"),
    # Ingest: candidates, images, query plans, uploads.
    path("synsets/<str:wnid>/candidates/", candidates.candidate_grid, name="candidate-grid"),
    re_path(r"^synsets/(?P<wnid>[^/]+)/queries/?$", queries.synset_queries, name="synset-queries"),
    path("queries.csv", queries.active_queries_csv, name="queries-csv"),
    path("images/<int:pk>/", images.image_detail, name="image-detail"),
    path("ingest/", ingest.ingest_page, name="ingest"),
    path("ingest/upload/", ingest.ingest_upload, name="ingest-upload"),
    path("ingest/start/", ingest.ingest_start_view, name="ingest-start"),
    path("ingest/<int:pk>/", ingest.ingest_job, name="ingest-job"),
    path("ingest/<int:pk>/errors.csv", ingest.ingest_errors_csv, name="ingest-errors-csv"),
    path("duplicates/", duplicates.duplicate_list, name="duplicates"),
    path("duplicates/start/", duplicates.duplicate_start_view, name="duplicates-start"),
    re_path(
        r"^duplicates/(?P<pk>[0-9]+)/(?P<action>confirm|split|representative)/$",
        duplicates.duplicate_action,
        name="duplicates-action",
    ),
    # Exports: versions, the new-export form and its preview, downloads.
    path("exports/", exports.export_list, name="export-list"),
    path("exports/new", exports.export_new, name="export-new"),
    path("exports/new/", exports.export_new),
    path("exports/preview/", exports.export_preview_view, name="export-preview"),
    path("exports/<slug:name>/", exports.export_detail, name="export-detail"),
    path(
        "exports/<slug:name>/download/<str:file>",
        exports.export_download_view,
        name="export-download",
    ),
    path("jobs/", jobs.job_list, name="job-list"),
    path("jobs/<int:pk>/", jobs.job_detail, name="job-detail"),
    path("jobs/<int:pk>/cancel/", jobs.job_cancel_view, name="job-cancel"),
    # Pre-labelling (issue 4): model registry, start, per-synset auto-reject.
    path("models/", prelabel.model_list, name="model-list"),
    path("models/<int:pk>/activate/", prelabel.model_activate_view, name="model-activate"),
    path("prelabel/", prelabel.prelabel_start_view, name="prelabel-start"),
    path(
        "synsets/<str:wnid>/auto-reject/",
        prelabel.synset_auto_reject_view,
        name="synset-auto-reject",
    ),
    # Training runs.
    path("runs/", runs.run_list, name="run-list"),
    path("runs/<int:pk>/", runs.run_detail, name="run-detail"),
    path("runs/<int:pk>/live/", runs.run_live, name="run-live"),
    path("runs/<int:pk>/cancel/", runs.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/register/", runs.run_register, name="run-register"),
    re_path(
        r"^runs/(?P<pk>\d+)/examples/(?P<sha256>[0-9a-f]{64})$",
        runs.run_example,
        name="run-example",
    ),
    path("exports/<slug:name>/train/", runs.export_train, name="export_train"),
]
