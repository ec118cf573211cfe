"""Retention and destruction pages: the administrator sets how long each kind of asset is held
and can run the destruction job now; a member sees which of their assets were destroyed, why,
and downloads each signed certificate. Both call `trust.destruction`, as the API does."""

from django import forms
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST

from .. import destruction
from ..models import Asset
from ..portal import PortalForm, admin_required, member_in_view, member_required, run_service_with_messages
from ..queue import enqueue_on_commit
from ..tasks import destroy_due_assets

RECENT = 25


class RetentionForm(PortalForm):
    """One field per asset kind: whole days, blank for "until capture is withdrawn"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for kind in Asset.Kind.values:
            self.fields[kind] = forms.IntegerField(
                label=f"{kind.replace('_', ' ').capitalize()} (days)",
                required=False,
                min_value=1,
                max_value=destruction.RETENTION_DAYS_MAX,
                widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            )


@admin_required
@require_http_methods(["GET", "POST"])
def retention(request):
    """Retention per kind with how many assets are held and due now, the form that sets it,
    the button that runs destruction now, and the latest certificates."""
    current = destruction.retention_periods()
    form = RetentionForm(request.POST or None, initial=current)
    if request.method == "POST" and form.is_valid():
        saved = run_service_with_messages(
            request,
            lambda: destruction.retention_set(actor=request.user, periods=form.cleaned_data),
            success="Retention saved. Assets it makes due go at the next run (daily, or now below).",
        )
        if saved is not None:
            return redirect("operations-retention")
    held = destruction.assets_held_per_kind()
    due = destruction.assets_due_per_kind()
    rows = [
        {
            "kind": kind,
            "label": label,
            "days": current[kind],
            "field": form[kind],
            "held": held[kind],
            "due": due[kind],
        }
        for kind, label in Asset.Kind.choices
    ]
    recent = destruction.destructions_latest(limit=RECENT)
    return render(
        request,
        "trust/retention/operations.html",
        {"form": form, "rows": rows, "recent": recent, "due_total": sum(due.values())},
    )


@admin_required
@require_POST
def retention_run(request):
    """Queue the destruction job now (the daily run does the same)."""
    run_service_with_messages(
        request,
        lambda: enqueue_on_commit(destroy_due_assets),
        success="Destruction is running: due assets are destroyed and certified shortly.",
    )
    return redirect("operations-retention")


@member_required
def member_destroyed(request):
    """The member's destroyed assets (and those being destroyed) with their certificates, and
    how long the trust keeps each kind of data."""
    member = member_in_view(request)
    rows = list(destruction.destructions_of(member)[:500])
    periods = [
        {"label": kind.replace("_", " ").capitalize(), "days": days}
        for kind, days in destruction.retention_periods().items()
    ]
    return render(request, "trust/retention/member.html", {"rows": rows, "periods": periods})


urlpatterns = [
    path("operations/retention/", retention, name="operations-retention"),
    path("operations/retention/run/", retention_run, name="operations-retention-run"),
    path("member/destroyed/", member_destroyed, name="member-destroyed"),
]
