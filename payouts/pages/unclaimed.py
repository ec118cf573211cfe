"""The administrator's unclaimed-royalties page: the pool's total and ageing, who it holds money
for, claims and releases; claiming on a member's behalf and marking members untraceable. It calls
`payouts.unclaimed`, like the API."""

import django_filters
from django import forms
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from trust.lists import SearchFilter, portal_list
from trust.models import Member
from trust.portal import PortalForm, admin_required, run_service_with_messages
from trust.selectors import member_by_number
from trust.templatetags.portal import money

from .. import unclaimed

CLAIMS_SHOWN = 20
RELEASES_SHOWN = 10
UNTRACEABLE_SHOWN = 50


class PoolFilter(django_filters.FilterSet):
    q = SearchFilter(fields=["member__member_number", "member__display_name"], label="Search members")
    sort = django_filters.OrderingFilter(
        fields=(
            ("amount_cents", "amount"),
            ("since", "since"),
            ("release_at", "release"),
            ("member_number", "member"),
        ),
        label="Sort by",
    )


class UntraceableForm(PortalForm):
    member_number = forms.CharField(label="Member number", max_length=32)
    reason = forms.CharField(label="How the trust tried to reach them", max_length=500)


@admin_required
def unclaimed_page(request, form=None):
    overview = unclaimed.unclaimed_overview()
    context = {
        "overview": overview,
        # The overview counts the members the pool holds money for: the list is not counted again.
        "listing": portal_list(
            request, unclaimed.unclaimed_pool_rows(), PoolFilter, unfiltered_total=overview["held_members"]
        ),
        "claims": unclaimed.recent_claims()[:CLAIMS_SHOWN],
        "releases": unclaimed.recent_releases()[:RELEASES_SHOWN],
        "untraceable": unclaimed.standing_marks()
        .order_by("member__member_number")
        .values("member_id", "member__member_number", "member__display_name", "reason", "marked_at")[
            :UNTRACEABLE_SHOWN
        ],
        "form": form or UntraceableForm(),
    }
    return render(request, "payouts/unclaimed/operations.html", context)


@admin_required
@require_POST
def unclaimed_claim(request, member_id):
    member = get_object_or_404(Member, pk=member_id)
    run_service_with_messages(
        request,
        lambda: unclaimed.unclaimed_claim(actor=request.user, member=member),
        success=lambda claim: (
            f"{money(claim.amount_cents)} claimed for {member.member_number}: "
            "back in their balance for the next payout batch."
        ),
    )
    return redirect("operations-unclaimed")


@admin_required
@require_POST
def member_untraceable(request):
    form = UntraceableForm(request.POST)
    if not form.is_valid():
        return unclaimed_page(request, form=form)
    member = member_by_number(form.cleaned_data["member_number"])
    if member is None:
        form.add_error("member_number", "No member has this number.")
        return unclaimed_page(request, form=form)
    done = run_service_with_messages(
        request,
        lambda: unclaimed.member_mark_untraceable(
            actor=request.user, member=member, reason=form.cleaned_data["reason"]
        ),
        success=f"{member.member_number} is marked untraceable: payout batches skip them.",
    )
    return redirect("operations-unclaimed") if done else unclaimed_page(request, form=form)


@admin_required
@require_POST
def member_traceable(request, member_id):
    member = get_object_or_404(Member, pk=member_id)
    run_service_with_messages(
        request,
        lambda: unclaimed.member_mark_traceable(actor=request.user, member=member),
        success=f"{member.member_number} is traceable again: payout batches pay them.",
    )
    return redirect("operations-unclaimed")


operations_urls = [
    path("unclaimed/", unclaimed_page, name="operations-unclaimed"),
    path("unclaimed/untraceable/", member_untraceable, name="operations-member-untraceable"),
    path("unclaimed/<id:member_id>/claim/", unclaimed_claim, name="operations-unclaimed-claim"),
    path("unclaimed/<id:member_id>/traceable/", member_traceable, name="operations-member-traceable"),
]
