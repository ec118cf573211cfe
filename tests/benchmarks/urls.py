"""The app's URLs plus the bare baselines the benchmarks measure against in the same server."""

from django.urls import path

from config.urls import urlpatterns as app_urlpatterns
from tests.benchmarks.bare import bare_download_floor, bare_manifest, bare_ok

urlpatterns = [
    path("bare/ok/", bare_ok),
    path("bare/manifest/<int:count>/", bare_manifest),
    path("bare/download/<int:lease_id>/<uuid:asset_id>/", bare_download_floor),
    *app_urlpatterns,
]
