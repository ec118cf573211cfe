from django.contrib import admin

from trust.admin import ReadOnlyAdmin

from .models import Peer


@admin.register(Peer)
class PeerAdmin(ReadOnlyAdmin):
    """Peers are added, suspended and resumed on /operations/federation/ or through the API."""

    list_display = ["slug", "name", "currency", "base_url", "state"]
    search_fields = ["slug", "name"]
