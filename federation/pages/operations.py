"""The administrator's federation page: this trust's identity to give peers, the peers with the
state of each double opt-in, adding one, suspending and resuming. Same services as the API."""

from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from trust.portal import admin_required, run_service_with_messages

from .. import selectors, services
from ..models import Peer
from .forms import PeerAddForm


@admin_required
def federation(request):
    form = PeerAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        peer = run_service_with_messages(
            request,
            lambda: services.peer_add(actor=request.user, **form.cleaned_data),
            success=lambda peer: (
                f"{peer.name} added. Peering is live once their administrator adds this trust too."
            ),
        )
        if peer is not None:
            return redirect("operations-federation")
    context = {
        "identity": selectors.identity(),
        "base_url": selectors.base_url(),
        "fingerprint": selectors.signing_fingerprint(),
        "peers": selectors.peers(),
        "form": form,
    }
    return render(request, "federation/operations/federation.html", context)


def _peer_action(service, verb: str):
    @admin_required
    @require_POST
    def view(request, peer_id):
        peer = get_object_or_404(Peer, pk=peer_id)
        run_service_with_messages(
            request,
            lambda: service(actor=request.user, peer=peer),
            success=f"Peering with {peer.name} {verb}.",
        )
        return redirect("operations-federation")

    return view


urlpatterns = [
    path("federation/", federation, name="operations-federation"),
    path(
        "federation/peers/<id:peer_id>/suspend/",
        _peer_action(services.peer_suspend, "suspended"),
        name="operations-peer-suspend",
    ),
    path(
        "federation/peers/<id:peer_id>/resume/",
        _peer_action(services.peer_resume, "resumed"),
        name="operations-peer-resume",
    ),
]
