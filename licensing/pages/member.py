"""A member's data pages: the assets they contribute to and where each one is used, and their
consent per use with the withdrawal that issues takedowns. The same selectors and services as
the member API (trust/api/views.py: /api/v1/assets/, /api/v1/contributions/,
/api/v1/me/consents/)."""

from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from trust.consent import use_label
from trust.errors import NotFound
from trust.models import AssetContributor, Consent
from trust.portal import member_in_view, member_required, run_service_with_messages
from trust.selectors import (
    asset_of_member,
    consent_history,
    consents_of,
    contribution_for,
    contributions_of,
)
from trust.services import (
    consent_grant,
    consent_reconfirm,
    consent_refuse,
    consent_withdraw,
    contribution_decide,
)
from trust.templatetags.portal import day

from .. import quotas, selectors
from .forms_member import CapGrantForm, ConsentDecisionForm

# The newest models trained on the data a withdrawal reaches that its page lists.
MODELS_SHOWN = 50


def _percent(share: Decimal) -> str:
    """Decimal("0.250000") -> "25%", Decimal("0.333333") -> "33.3333%"."""
    return f"{(share * 100).normalize():f}%"


@member_required
def assets(request):
    member = member_in_view(request)
    overview = selectors.member_asset_overview(member)
    for row in overview:
        row["share_percent"] = _percent(row["share"])
        for named in row["contributors"] or ():
            named.share_percent = _percent(named.share)
    requests = list(contributions_of(member, status=AssetContributor.Status.PENDING))
    for pending in requests:
        pending.share_percent = _percent(pending.share)
        registrant = getattr(pending.asset.created_by, "member", None)
        pending.named_by = registrant.display_name if registrant else "the trust"
    return render(request, "licensing/member/assets.html", {"assets": overview, "requests": requests})


@member_required
@require_POST
def contribution_answer(request, contribution_id, accept: bool):
    """Accept or decline a share someone else named this member for; back to My assets."""
    try:
        row = contribution_for(user=request.user, contribution_id=contribution_id)
    except NotFound as error:
        raise Http404(error.detail) from error
    title = row.asset.title
    run_service_with_messages(
        request,
        lambda: contribution_decide(actor=request.user, contribution=row, accept=accept),
        success=f"Accepted: “{title}” is one of your assets now; your consent decides its use."
        if accept
        else f"Declined: “{title}” does not count as yours, and cannot be licensed with your share.",
    )
    return redirect("member-assets")


def _scope(asset) -> str:
    return f"“{asset.title}”" if asset is not None else "all your assets"


@member_required
@require_http_methods(["GET", "POST"])
def consent(request):
    member = member_in_view(request)
    if request.method == "POST" and "cap_quantity" in request.POST:
        return _grant_with_cap(request, member)
    if request.method == "POST":
        form = ConsentDecisionForm(request.POST)
        if not form.is_valid():
            messages.error(
                request, "Nothing was recorded: use one of the Grant or Refuse buttons in the table."
            )
            return redirect("member-consent")
        use, asset_id = form.cleaned_data["use"], form.cleaned_data["asset"]
        refusing = form.cleaned_data["decision"] == "refuse"
        try:
            asset = asset_of_member(member=member, asset_id=asset_id) if asset_id else None
        except NotFound as error:
            raise Http404(error.detail) from error
        decide = consent_refuse if refusing else consent_grant
        run_service_with_messages(
            request,
            lambda: decide(
                actor=request.user, member=member, use=use, asset=asset, channel=Consent.Channel.WEB
            ),
            success=f"{'Refused' if refusing else 'Granted'}: {use_label(use)} for {_scope(asset)}.",
        )
        return redirect("member-consent")
    return render(
        request,
        "licensing/member/consent.html",
        {
            "matrix": (matrix := selectors.member_consent_matrix(member)),
            "history": consent_history(member=member).order_by("-created_at", "-id"),
            "caps": quotas.member_caps(member),
            "cap_form": CapGrantForm(assets=matrix["assets"]),
        },
    )


def _grant_with_cap(request, member):
    """The cap form of the consent page: a grant with its cap, through the same service."""
    from trust.consent import cap_unit

    form = CapGrantForm(request.POST, assets=selectors.member_consent_matrix(member)["assets"])
    if not form.is_valid():
        problems = "; ".join(
            f"{form.fields[name].label}: {' '.join(errs)}" for name, errs in form.errors.items()
        )
        messages.error(request, f"Nothing was recorded. {problems}")
        return redirect("member-consent")
    data = form.cleaned_data
    try:
        asset = asset_of_member(member=member, asset_id=data["cap_asset"]) if data["cap_asset"] else None
    except NotFound as error:
        raise Http404(error.detail) from error
    use, quantity, per = data["use"], data["cap_quantity"], data["cap_per"]
    run_service_with_messages(
        request,
        lambda: consent_grant(
            actor=request.user,
            member=member,
            use=use,
            asset=asset,
            channel=Consent.Channel.WEB,
            cap_quantity=quantity,
            cap_per=per,
        ),
        success=f"Granted with a cap: {use_label(use)} for {_scope(asset)}, at most {quantity:,} "
        f"{cap_unit(use)} per {per}.",
    )
    return redirect("member-consent")


def _takedown_message(withdrawal) -> str:
    notices = list(selectors.takedowns_from_withdrawal(withdrawal))
    if not notices:
        return "No active lease relied on this grant for your assets, so no takedown notice was needed."
    studios = sorted({notice.lease.studio.name for notice in notices})
    return (
        f"{len(notices)} takedown notice{'s' if len(notices) != 1 else ''} sent to {', '.join(studios)}: "
        "the studio must acknowledge and then attest that it deleted your data."
    )


@member_required
@require_http_methods(["GET", "POST"])
def consent_withdraw_confirm(request, consent_id):
    member = member_in_view(request)
    grant = (
        consents_of(member)
        .filter(pk=consent_id, state=Consent.State.GRANTED)
        .select_related("member")
        .first()
    )
    if grant is None:
        raise Http404("no such grant")
    if request.method == "POST":
        withdrawal = run_service_with_messages(
            request,
            lambda: consent_withdraw(actor=request.user, consent=grant, channel=Consent.Channel.WEB),
            success=f"Withdrawn: {use_label(grant.use)} for {_scope(grant.asset)}.",
        )
        if withdrawal is not None:
            messages.info(request, _takedown_message(withdrawal))
        return redirect("member-consent")
    if hasattr(grant, "withdrawal"):
        messages.info(request, f"This grant was already withdrawn on {day(grant.withdrawal.created_at)}.")
        return redirect("member-consent")
    if hasattr(grant, "reconfirmation"):
        messages.info(request, "This grant was re-confirmed under a newer text: withdraw that grant instead.")
        return redirect("member-consent")
    reach = selectors.withdrawal_reach(grant)
    # One row past what is shown says whether there are more, without counting them all.
    trained = list(
        selectors.models_trained_on([asset.pk for asset in reach["assets"]], before=timezone.now())[
            : MODELS_SHOWN + 1
        ]
    )
    return render(
        request,
        "licensing/member/consent_withdraw.html",
        {
            "grant": grant,
            "use_label": use_label(grant.use),
            "use_text": grant.text.text,
            "reach": reach,
            "download_url_seconds": settings.DOWNLOAD_URL_SECONDS,
            "retention_days": settings.TAKEDOWN_RETENTION_DAYS,
            "models": selectors.register_model_entries(trained[:MODELS_SHOWN], with_members=False),
            "more_models": len(trained) > MODELS_SHOWN,
        },
    )


@member_required
@require_POST
def consent_reconfirm_now(request, consent_id):
    """Re-confirm a grant under the text now in force; back to My consent."""
    grant = consents_of(member_in_view(request)).filter(pk=consent_id, state=Consent.State.GRANTED).first()
    if grant is None:
        raise Http404("no such grant")
    run_service_with_messages(
        request,
        lambda: consent_reconfirm(actor=request.user, consent=grant, channel=Consent.Channel.WEB),
        success=f"Re-confirmed: {use_label(grant.use)} for {_scope(grant.asset)}, under the current text.",
    )
    return redirect("member-consent")


@member_required
def consent_record(request, consent_id):
    """One decision as it was made: the exact text the member was shown, its hash, and the
    links to its signed receipt."""
    record = (
        consents_of(member_in_view(request))
        .select_related("supersedes", "reconfirms")
        .filter(pk=consent_id)
        .first()
    )
    if record is None:
        raise Http404("no such consent record")
    return render(request, "licensing/member/consent_record.html", {"record": record})


urlpatterns = [
    path("assets/", assets, name="member-assets"),
    path(
        "assets/requests/<id:contribution_id>/accept/",
        contribution_answer,
        {"accept": True},
        name="member-contribution-accept",
    ),
    path(
        "assets/requests/<id:contribution_id>/decline/",
        contribution_answer,
        {"accept": False},
        name="member-contribution-decline",
    ),
    path("consent/", consent, name="member-consent"),
    path("consent/<id:consent_id>/", consent_record, name="member-consent-record"),
    path("consent/<id:consent_id>/withdraw/", consent_withdraw_confirm, name="member-consent-withdraw"),
    path("consent/<id:consent_id>/reconfirm/", consent_reconfirm_now, name="member-consent-reconfirm"),
]
