"""Estates: a member names who decides on their consent after their death; whoever holds a
late member's consent authority (their representative, or administrators for the union) opens
that member's pages and decides there; an administrator records a death. The same services as
PUT /api/v1/me/estate-representative/ and POST /api/v1/members/{id}/death/."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST

from trust import selectors, services
from trust.models import Member
from trust.portal import ACTING_FOR, admin_required, role_of, run_service_with_messages

from .forms_estate import DeathForm, EstateRepresentativeForm


@login_required
@require_http_methods(["GET", "POST"])
def estates(request):
    """The late members whose authority the user holds, and, for a living member, whom they
    name to decide after their death."""
    member = selectors.member_of(request.user)
    alive = member is not None and selectors.authority_in_force(member) is None
    form = EstateRepresentativeForm(request.POST or None) if alive else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("only a living member names an estate representative")
        if form.is_valid():
            run_service_with_messages(
                request,
                lambda: services.estate_representative_name(
                    actor=request.user, member=member, username=form.cleaned_data["username"]
                ),
                success=f"Named: {form.cleaned_data['username']} decides on your consent after your death.",
            )
            return redirect("member-estates")
    held = list(selectors.members_in_authority_of(request.user))
    if member is None and not held and role_of(request.user) != "admin":
        raise PermissionDenied("these pages are for members and the holders of a late member's authority")
    return render(
        request,
        "trust/estate/estates.html",
        {
            "held": held,
            "form": form,
            "named": selectors.estate_representative_of(member) if alive else None,
        },
    )


@login_required
@require_POST
def act_for(request, member_id):
    """Open a late member's pages: only while the user holds their authority."""
    late = selectors.members_in_authority_of(request.user).filter(pk=member_id).first()
    if late is None:
        raise Http404("no such member")
    request.session[ACTING_FOR] = late.pk
    messages.info(request, f"You are looking at the pages of the late {late.display_name}.")
    return redirect("member-home")


@login_required
@require_POST
def stop_acting(request):
    request.session.pop(ACTING_FOR, None)
    return redirect("member-estates")


@admin_required
@require_http_methods(["GET", "POST"])
def record_death(request, member_id):
    member = Member.objects.filter(pk=member_id).select_related("death").first()
    if member is None:
        raise Http404("no such member")
    named = selectors.estate_representative_of(member)
    form = DeathForm(request.POST or None, named=named)
    if request.method == "POST" and form.is_valid() and not hasattr(member, "death"):
        death = run_service_with_messages(
            request,
            lambda: services.member_record_death(
                actor=request.user,
                member=member,
                died_on=form.cleaned_data["date"],
                evidence=form.cleaned_data["evidence"],
                authority=form.chosen_authority(),
            ),
            success=f"Recorded: the death of {member.display_name}. Their consent is decided by "
            "their authority from now on.",
        )
        if death is not None:
            return redirect("operations-member-death", member_id=member.pk)
    return render(
        request,
        "trust/estate/record_death.html",
        {
            "member": member,
            "form": form,
            "named": named,
            "death": getattr(member, "death", None),
            "authority": selectors.authority_in_force(member),
        },
    )


urlpatterns = [
    path("member/estates/", estates, name="member-estates"),
    path("member/estates/<id:member_id>/open/", act_for, name="member-estate-open"),
    path("member/estates/close/", stop_acting, name="member-estate-close"),
    path("operations/members/<id:member_id>/death/", record_death, name="operations-member-death"),
]
