"""The trust's front door: what it is, for anyone, and where a signed-in user belongs."""

from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import path

from ..models import Asset, Member
from ..portal import ROLE_HOMES, role_of


def home(request):
    figures = Asset.objects.aggregate(
        assets=Count("pk", filter=Q(status=Asset.Status.AVAILABLE)),
    )
    figures["members"] = Member.objects.count()
    return render(request, "trust/public/home.html", {"figures": figures})


def landing(request):
    """After sign-in: each role to its own pages; an account with no role to the front page."""
    role = role_of(request.user)
    return redirect(ROLE_HOMES[role] if role else "public-home")


urlpatterns = [
    path("", home, name="public-home"),
    path("accounts/home/", landing, name="portal-landing"),
]
