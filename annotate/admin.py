from django.contrib import admin

from annotate.models import GoldItem
from config.admin_site import CuratorAdmin


@admin.register(GoldItem)
class GoldItemAdmin(CuratorAdmin):
    list_display = ["candidate", "truth", "created_by", "created_at"]
    raw_id_fields = ["candidate"]
