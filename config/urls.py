from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from curation.views.dashboard import home
from curation.views.health import healthz, metrics
from curation.views.media import image_original, image_thumb

api_v1 = [
    path("", include("curation.api.urls")),
    path("", include("annotate.api.urls")),
]

urlpatterns = [
    path("", home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    re_path(r"^i/(?P<sha256>[0-9a-f]{64})/thumb$", image_thumb, name="image-thumb"),
    re_path(r"^i/(?P<sha256>[0-9a-f]{64})/original$", image_original, name="image-original"),
    path("curate/quality/", include("annotate.quality_urls")),
    path("curate/", include("curation.urls")),
    path("annotate/", include("annotate.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
