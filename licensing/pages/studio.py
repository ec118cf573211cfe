"""Studio staff's pages: the catalogue, lease requests, their leases with tokens, usage and
takedown notices. The same selectors and services as the studio API (licensing/api/views.py)."""

import secrets
from datetime import timedelta
from types import SimpleNamespace

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from trust.errors import NotFound
from trust.lists import csv_response, portal_list, wants_csv
from trust.portal import run_service_with_messages, studio_required
from trust.templatetags.portal import ref

from .. import federated, quotas, selectors, services, tokens
from ..models import LeaseTerms, Takedown, UsageEvent
from .forms_studio import AttestationForm, DeriveTokenForm, LeasePartsForm, LeaseRequestForm, TokenMintForm
from .lists_studio import CatalogueFilter, PeerOfferFilter, StudioLeaseFilter

# Offers are cards with their consent coverage: fewer to a page than a table's rows.
CATALOGUE_PAGE = 20
# Peers share a handful of offers each; past this many the API's /catalog/ pages through them all.
PEER_OFFERS_SHOWN = 100

# A freshly minted token's secret is rendered in the response to the POST that minted it and
# kept nowhere else (never in the session table). That response cannot redirect, so a reload
# would post the form again: each rendered mint form carries a one-time key, remembered here
# (the latest few, not secrets), and a post whose key was used or never issued mints nothing.
MINT_KEYS_SESSION_KEY = "studio-token-mint-keys"
MINT_KEYS_KEPT = 20


def _prices(terms) -> list[tuple[str, int]]:
    prices = [
        ("Flat fee", terms.flat_fee_cents),
        ("Per download", terms.price_per_download_cents),
        ("Per training run", terms.price_per_training_run_cents),
        ("Per generated second", terms.price_per_generated_second_cents),
    ]
    # Charged once per (studio, production title); an older peer's offer may not carry one.
    fee = getattr(terms, "production_fee_cents", 0)
    if fee:
        prices.append(("Production fee, once per production", fee))
    return prices


def _catalogue_entry(offer: dict) -> dict:
    return {**offer, "prices": _prices(offer["terms"])}


def _peer_card(offer) -> dict:
    """A peer's offer in the shape the terms card reads (its id made unique by the trust)."""
    entry = selectors.catalogue_entry(offer)
    terms = SimpleNamespace(**{**entry, "pk": f"{entry['trust']}-{entry['terms']}"})
    coverage = {**entry["coverage"], "per_use": list(entry["coverage"]["per_use"].items())}
    return {**entry, "terms": terms, "coverage": coverage, "prices": _prices(terms)}


@studio_required
def catalogue(request):
    listing = portal_list(request, selectors.catalogue_terms(), CatalogueFilter, per_page=CATALOGUE_PAGE)
    entries = [_catalogue_entry(selectors.catalogue_offer(terms)) for terms in listing.rows]
    peer_offers = PeerOfferFilter(request.GET, queryset=selectors.peer_offers()).qs[:PEER_OFFERS_SHOWN]
    return render(
        request,
        "licensing/studio/catalogue.html",
        {
            "listing": listing,
            "entries": entries,
            "peer_entries": [_peer_card(offer) for offer in peer_offers],
            "offered": selectors.catalogue_terms().count(),
            "filtered": listing.filtered,
            "studio": selectors.studio_of(request.user),
        },
    )


def _offers_to_add(terms) -> dict:
    """Live peers' shared offers a federated request may add beside `terms`: fresh, and priced
    in the lease's currency (the service refuses any other), grouped by peer."""
    now = timezone.now()
    grouped: dict = {}
    for offer in selectors.peer_offers().filter(currency=terms.currency).order_by("peer__slug", "title"):
        if not selectors.peer_offer_is_stale(offer, at=now):
            grouped.setdefault(offer.peer, []).append(offer)
    return grouped


@studio_required
def request_lease(request, terms_id):
    """Request a lease under this trust's terms, optionally with parts at peer trusts (one offer
    each): a federated lease whose home is this trust."""
    terms = get_object_or_404(LeaseTerms.objects.select_related("dataset"), pk=terms_id)
    if not terms.active and request.method != "POST":
        raise Http404("these terms are not offered")
    form = LeaseRequestForm(request.POST or None)
    parts_form = LeasePartsForm(request.POST or None, offers_by_peer=_offers_to_add(terms))
    if request.method == "POST" and form.is_valid() and parts_form.is_valid():
        purpose, parts = form.cleaned_data["purpose"], parts_form.parts()
        production = form.cleaned_data["production"]

        def request_it():
            if parts:
                home = {"trust": settings.TRUST_SLUG, "terms": terms.pk}
                return federated.federated_lease_request(
                    actor=request.user, purpose=purpose, parts=[home, *parts], production=production
                )
            return services.lease_request(
                actor=request.user, terms=terms, purpose=purpose, production=production
            )

        success = (
            "Federated lease requested; each trust will decide its own part."
            if parts
            else "Lease requested; the trust will decide. You can mint tokens once it is approved."
        )
        lease = run_service_with_messages(request, request_it, success=success)
        if lease is not None:
            return redirect("studio-lease", lease_id=lease.pk)
        if not terms.active:
            return redirect("studio-home")
    return render(
        request,
        "licensing/studio/request_lease.html",
        {
            "form": form,
            "parts_form": parts_form,
            "entry": _catalogue_entry(selectors.catalogue_offer(terms)),
            "already": selectors.studio_leases_on_terms(selectors.studio_of(request.user), terms),
        },
    )


@studio_required
def leases(request):
    rows = selectors.leases_visible_with_open_takedowns(request.user)
    if wants_csv(request):
        rows = StudioLeaseFilter(request.GET, queryset=rows).qs
        return csv_response(
            "guildtrust-leases.csv",
            [
                "lease",
                "terms",
                "dataset",
                "version",
                "purpose",
                "status",
                "requested",
                "starts",
                "ends",
                "revoked",
                "open takedowns",
            ],
            (
                [
                    lease.pk,
                    lease.terms.title,
                    lease.terms.dataset.title,
                    lease.version.number if lease.version else "",
                    lease.purpose,
                    lease.status,
                    lease.requested_at.isoformat(),
                    lease.starts_at.isoformat() if lease.starts_at else "",
                    lease.ends_at.isoformat() if lease.ends_at else "",
                    lease.revoked_at.isoformat() if lease.revoked_at else "",
                    lease.open_takedowns,
                ]
                for lease in rows.iterator(chunk_size=2000)
            ),
        )
    return render(
        request,
        "licensing/studio/leases.html",
        {"listing": portal_list(request, rows, StudioLeaseFilter)},
    )


def _lease(request, lease_id):
    try:
        return selectors.lease_for(user=request.user, lease_id=lease_id)
    except NotFound as error:
        raise Http404(error.detail) from error


def _usage_rows(lease) -> list[dict]:
    """usage_summary(lease) for every usage kind, unused ones as zeros, with the unit price."""
    summary = selectors.usage_summary(lease)
    rows = []
    for kind, label in (
        (UsageEvent.Kind.DOWNLOAD, "Downloads"),
        (UsageEvent.Kind.TRAINING_RUN, "Training runs"),
        (UsageEvent.Kind.GENERATED_SECOND, "Generated seconds"),
    ):
        used = summary.get(kind, {"events": 0, "quantity": 0})
        rows.append(
            {
                "kind": kind.value,
                "label": label,
                "events": used["events"],
                "quantity": used["quantity"],
                "unit_price_cents": lease.unit_price(kind),
            }
        )
    if lease.substitution_premium_bps:
        used = summary.get(UsageEvent.Kind.SUBSTITUTION_SAVING, {"events": 0, "quantity": 0})
        # A saving's quantity is the cents saved; its premium is a rate, not a unit price.
        rows.append(
            {
                "kind": UsageEvent.Kind.SUBSTITUTION_SAVING.value,
                "label": "Substitution savings",
                "events": used["events"],
                "saved_cents": used["quantity"],
                "premium_bps": lease.substitution_premium_bps,
            }
        )
    return rows


def _issue_mint_key(request) -> str:
    key = secrets.token_urlsafe(16)
    issued = request.session.get(MINT_KEYS_SESSION_KEY, [])
    request.session[MINT_KEYS_SESSION_KEY] = [*issued, key][-MINT_KEYS_KEPT:]
    return key


def _use_mint_key(request, key: str) -> bool:
    """True once for a key this session was issued: the first post of a rendered mint form."""
    issued = request.session.get(MINT_KEYS_SESSION_KEY, [])
    if key not in issued:
        return False
    request.session[MINT_KEYS_SESSION_KEY] = [k for k in issued if k != key]
    return True


def _derive_form(request, lease, data=None) -> DeriveTokenForm:
    initial = None if data is not None else {"mint_key": _issue_mint_key(request)}
    return DeriveTokenForm(data, initial=initial, uses=lease.permitted_uses, prefix="derive")


def _lease_page(
    request,
    lease,
    *,
    mint_form=None,
    derive_form=None,
    attest_forms=None,
    new_token=None,
    new_vendor_token=None,
    status=200,
):
    """The lease page, with bound forms when a post came back with errors, and the secret of a
    token this very request minted or derived (`new_token`, `new_vendor_token`), shown once."""
    attest_forms = attest_forms or {}
    takedowns = list(selectors.takedowns_for(lease))
    open_takedowns = [t for t in takedowns if t.status in Takedown.OPEN_STATUSES]
    for takedown in open_takedowns:
        if takedown.status == Takedown.Status.ACKNOWLEDGED:
            takedown.attest_form = attest_forms.get(takedown.pk) or AttestationForm(
                prefix=f"takedown-{takedown.pk}"
            )
    usage = _usage_rows(lease)
    # Only a federated lease's tokens (ft_) can be derived for vendors.
    federated = bool(lease.parts.all())
    derived = tokens.derived_tokens_with_state(lease, tokens.derived_tokens_of(lease)) if federated else []
    response = render(
        request,
        "licensing/studio/lease.html",
        {
            "lease": lease,
            "parts": (parts := selectors.lease_parts(lease)),
            "forwarded": selectors.forwarded_usage_summary(lease) if parts else {},
            "tokens": selectors.tokens_of(lease),
            "mint_form": mint_form or TokenMintForm(initial={"mint_key": _issue_mint_key(request)}),
            "new_token": new_token,
            "new_vendor_token": new_vendor_token,
            "federated": federated,
            "derived_tokens": derived,
            "derive_form": derive_form or (_derive_form(request, lease) if federated else None),
            "manifest_url": request.build_absolute_uri(reverse("api-lease-manifest", args=[lease.pk])),
            "manifest": selectors.lease_manifest_summary(lease),
            "usage": usage,
            "downloads_left": selectors.downloads_left(lease),
            "quotas": quotas.lease_quotas(lease) if lease.version_id else None,
            "takedowns": takedowns,
            "open_takedowns": open_takedowns,
            "effective_end": selectors.effective_end(lease),
            # Tokens are minted only for a live lease: the page asks the rule token_mint applies.
            "can_mint": selectors.lease_is_live(lease),
            # Before approval the lease holds no version: show the terms it asks for instead.
            "terms_entry": None
            if lease.version_id
            else _catalogue_entry(selectors.catalogue_offer(lease.terms)),
            "now": timezone.now(),
        },
        status=status,
    )
    # The page may carry a token's secret: no-store, so no cache keeps it and Back never shows it.
    add_never_cache_headers(response)
    return response


@studio_required
def lease_detail(request, lease_id):
    return _lease_page(request, _lease(request, lease_id))


@studio_required
@require_http_methods(["GET", "POST"])
def lease_cancel(request, lease_id):
    """Asks before cancelling: the GET shows what cancelling means, the POST does it."""
    lease = _lease(request, lease_id)
    if request.method == "POST":
        run_service_with_messages(
            request,
            lambda: services.lease_cancel(actor=request.user, lease=lease),
            success=f"{ref(lease)} request cancelled. The trust will not decide it.",
        )
        return redirect("studio-lease", lease_id=lease.pk)
    if lease.status != lease.Status.REQUESTED:
        messages.error(
            request,
            f"{ref(lease)} is {lease.get_status_display().lower()}: only a request "
            "waiting for a decision can be cancelled.",
        )
        return redirect("studio-lease", lease_id=lease.pk)
    return render(request, "licensing/studio/lease_cancel.html", {"lease": lease})


@studio_required
@require_POST
def token_mint(request, lease_id):
    lease = _lease(request, lease_id)
    form = TokenMintForm(request.POST)
    if not form.is_valid():
        return _lease_page(request, lease, mint_form=form)
    if not _use_mint_key(request, form.cleaned_data["mint_key"]):
        messages.info(
            request,
            "Nothing minted: that form was already sent (a reload?). A token it minted is listed "
            "below; its secret was shown once. If you did not copy it, revoke it and mint another.",
        )
        return redirect("studio-lease", lease_id=lease.pk)
    days = form.cleaned_data["lifetime_days"]
    minted = run_service_with_messages(
        request,
        lambda: tokens.lease_token_mint(
            actor=request.user,
            lease=lease,
            name=form.cleaned_data["name"],
            lifetime=timedelta(days=days) if days else None,
        ),
        success="Token minted. Copy its secret now: it is shown only this once.",
    )
    if minted is None:
        return redirect("studio-lease", lease_id=lease.pk)
    token, secret = minted
    # Rendered here, not redirected: the secret must not wait in the session for the next page.
    return _lease_page(
        request,
        lease,
        new_token={"id": token.pk, "name": token.name, "secret": secret, "expires_at": token.expires_at},
    )


@studio_required
@require_POST
def token_revoke(request, lease_id, token_id):
    lease = _lease(request, lease_id)
    token = get_object_or_404(selectors.tokens_of(lease), pk=token_id)
    run_service_with_messages(
        request,
        lambda: tokens.lease_token_revoke(actor=request.user, lease=lease, token=token),
        success=f"Token “{token.name}” revoked: it is refused from now on.",
    )
    return redirect("studio-lease", lease_id=lease.pk)


@studio_required
@require_POST
def token_derive(request, lease_id):
    lease = _lease(request, lease_id)
    form = _derive_form(request, lease, request.POST)
    if not form.is_valid():
        return _lease_page(request, lease, derive_form=form)
    if not _use_mint_key(request, form.cleaned_data["mint_key"]):
        messages.info(
            request,
            "Nothing derived: that form was already sent (a reload?). A token it derived is listed "
            "below; its secret was shown once. If you did not copy it, revoke it and derive another.",
        )
        return redirect("studio-lease", lease_id=lease.pk)
    data, hours = form.cleaned_data, form.cleaned_data["lifetime_hours"]
    derived = run_service_with_messages(
        request,
        lambda: tokens.lease_token_derive(
            actor=request.user,
            lease=lease,
            parent_secret=data["parent"].strip(),
            vendor=data["vendor"],
            assets=data["assets"],
            uses=data["uses"] or None,
            expires_at=timezone.now() + timedelta(hours=hours) if hours else None,
        ),
        success="Vendor token derived. Copy it now for the vendor: it is shown only this once.",
    )
    if derived is None:
        return redirect("studio-lease", lease_id=lease.pk)
    token, secret = derived
    return _lease_page(
        request,
        lease,
        new_vendor_token={"vendor": token.vendor, "secret": secret, "expires_at": token.expires_at},
    )


@studio_required
@require_POST
def derived_token_revoke(request, lease_id, derived_id):
    lease = _lease(request, lease_id)
    token = get_object_or_404(tokens.derived_tokens_of(lease), pk=derived_id)
    run_service_with_messages(
        request,
        lambda: tokens.derived_token_revoke(actor=request.user, lease=lease, token=token),
        success=f"{token.vendor}'s token revoked at every trust of the lease, with every token derived "
        "from it.",
    )
    return redirect("studio-lease", lease_id=lease.pk)


def _takedown(lease, takedown_id) -> Takedown:
    return get_object_or_404(selectors.takedowns_for(lease), pk=takedown_id)


@studio_required
@require_POST
def takedown_acknowledge(request, lease_id, takedown_id):
    lease = _lease(request, lease_id)
    takedown = _takedown(lease, takedown_id)
    run_service_with_messages(
        request,
        lambda: services.takedown_acknowledge(actor=request.user, takedown=takedown),
        success="Takedown acknowledged. Delete the asset, then attest its deletion here.",
    )
    return redirect("studio-lease", lease_id=lease.pk)


@studio_required
@require_POST
def takedown_attest(request, lease_id, takedown_id):
    lease = _lease(request, lease_id)
    takedown = _takedown(lease, takedown_id)
    form = AttestationForm(request.POST, prefix=f"takedown-{takedown.pk}")
    if not form.is_valid():
        return _lease_page(request, lease, attest_forms={takedown.pk: form})
    run_service_with_messages(
        request,
        lambda: services.takedown_attest_deletion(
            actor=request.user, takedown=takedown, statement=form.cleaned_data["statement"]
        ),
        success="Deletion attested. The notice is closed.",
    )
    return redirect("studio-lease", lease_id=lease.pk)


urlpatterns = [
    path("", catalogue, name="studio-home"),
    path("catalogue/<id:terms_id>/request/", request_lease, name="studio-request-lease"),
    path("leases/", leases, name="studio-leases"),
    path("leases/<id:lease_id>/", lease_detail, name="studio-lease"),
    path("leases/<id:lease_id>/cancel/", lease_cancel, name="studio-lease-cancel"),
    path("leases/<id:lease_id>/tokens/", token_mint, name="studio-token-mint"),
    path("leases/<id:lease_id>/tokens/<id:token_id>/revoke/", token_revoke, name="studio-token-revoke"),
    path("leases/<id:lease_id>/tokens/derive/", token_derive, name="studio-token-derive"),
    path(
        "leases/<id:lease_id>/derived-tokens/<id:derived_id>/revoke/",
        derived_token_revoke,
        name="studio-derived-token-revoke",
    ),
    path(
        "leases/<id:lease_id>/takedowns/<id:takedown_id>/acknowledge/",
        takedown_acknowledge,
        name="studio-takedown-acknowledge",
    ),
    path(
        "leases/<id:lease_id>/takedowns/<id:takedown_id>/attest/",
        takedown_attest,
        name="studio-takedown-attest",
    ),
]
