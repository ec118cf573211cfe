from django.contrib import admin
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.health import healthz, readyz
from config.metrics import metrics_view
from federation.api.views import WellKnownView
from trust.storage_views import local_object


class RowIdConverter:
    """Like <int:>, but too long a number is a 404 rather than an overflow in the database."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


register_converter(RowIdConverter, "id")


handler404 = "trust.api.errors.not_found"

urlpatterns = [
    # The API first, licensing's (the gateway's downloads) first of all: Django tries patterns in
    # order, and a download resolved after every portal pattern spent ~0.1 ms matching them.
    path("api/v1/", include("licensing.api.urls")),
    path("api/v1/", include("trust.api.urls")),
    path("api/v1/", include("payouts.api.urls")),
    path("api/v1/", include("federation.api.urls")),
    # The portal: people's pages. Each role's URLs are gathered from the apps that own the data.
    path("", include("trust.pages.public")),
    path("accounts/", include("trust.pages.accounts")),
    path("", include("trust.pages.estate")),
    path("transparency/", include("licensing.pages.public")),
    path("member/", include("payouts.pages.member")),
    path("member/", include("licensing.pages.member")),
    path("studio/", include("licensing.pages.studio")),
    path("studio/", include("payouts.pages.studio")),
    path("operations/", include("payouts.pages.operations")),
    path("operations/", include("licensing.pages.operations")),
    path("operations/", include("trust.pages.operations")),
    path("operations/", include("federation.pages.operations")),
    path("", include("trust.pages.retention")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Split: the page's script is a file of its own (?script), as the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("storage/local/<path:key>", local_object, name="local-object"),
    path("healthz", healthz, name="health"),
    path("readyz", readyz, name="ready"),
    path("metrics", metrics_view, name="metrics"),
    path(".well-known/guildtrust.json", WellKnownView.as_view(), name="well-known"),
]
