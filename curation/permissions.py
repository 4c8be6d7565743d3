"""DRF permissions and view decorators for the roles."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission

from curation.roles import is_annotator, is_curator


class IsCurator(BasePermission):
    message = "Curator role required."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_curator(request.user)


class IsAnnotator(BasePermission):
    message = "Annotator role required."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_annotator(request.user)


def _role_required(check: Callable[[Any], bool]) -> Callable:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not check(request.user):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


curator_required = _role_required(is_curator)
annotator_required = _role_required(is_annotator)
