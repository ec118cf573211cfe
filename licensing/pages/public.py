"""The public transparency register: the same rows as GET /api/v1/transparency/leases/."""

from django.shortcuts import render
from django.urls import path

from ..selectors import transparency_entries, transparency_leases


def register(request):
    return render(
        request, "licensing/public/transparency.html", {"leases": transparency_entries(transparency_leases())}
    )


urlpatterns = [path("", register, name="transparency")]
