"""Admin for curators only: annotators get 403 instead of an admin login page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from curation.roles import is_curator


class SynsetLabAdminSite(admin.AdminSite):
    site_header = "SynsetLab admin"
    site_title = "SynsetLab admin"
    index_title = "Data"

    def has_permission(self, request: HttpRequest) -> bool:
        return is_curator(request.user)

    def admin_view(
        self, view: Callable[..., HttpResponse], cacheable: bool = False
    ) -> Callable[..., HttpResponse]:
        inner = super().admin_view(view, cacheable)

        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied("The admin is for curators.")
            return inner(request, *args, **kwargs)

        return guarded

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.user.is_authenticated and not self.has_permission(request):
            raise PermissionDenied("The admin is for curators.")
        return super().login(request, extra_context)


class SynsetLabAdminConfig(AdminConfig):
    default_site = "config.admin_site.SynsetLabAdminSite"


class CuratorAdmin(admin.ModelAdmin):
    """Model admin whose permissions follow the curator role, not per-model permissions."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_curator(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_curator(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_curator(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_curator(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_curator(request.user)
