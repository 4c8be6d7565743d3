from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _register_default_model(sender: AppConfig, **kwargs: Any) -> None:
    """The default pre-label model exists after every migrate (idempotent)."""
    from django.db import connections

    from curation.services.models import model_register_default

    using = kwargs.get("using", "default")
    if "curation_modelartifact" in connections[using].introspection.table_names():
        model_register_default()


class CurationConfig(AppConfig):
    name = "curation"
    verbose_name = "Curation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_register_default_model, sender=self)
