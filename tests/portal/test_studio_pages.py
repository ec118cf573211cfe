"""The studio portal: catalogue, lease requests, a lease's tokens, usage and takedowns, and
charges. Each page shows what the studio API says, and each form goes through the same service."""

import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from licensing import selectors
from licensing import services as licensing
from licensing import tokens as lease_tokens
from licensing.models import Lease, LeaseToken, Takedown
from tests.conftest import bearer_client, json_body
from trust import services as trust

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    """The page as a person reads it: tags stripped, whitespace collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def carol_client(client, world):
    client.force_login(world.cast.carol)
    return client


def _withdraw_bob_training(world) -> Takedown:
    """Bob withdraws his training grant: his shared asset leaves both leases with a notice each."""
    trust.consent_withdraw(actor=world.cast.bob.user, consent=world.cast.bob.consents.get(use="training"))
    return Takedown.objects.get(lease=world.lease_a)


# --- Who may see the pages ------------------------------------------------------------------


def _studio_urls(world) -> list[tuple[str, str]]:
    lease, token = world.lease_a.pk, world.token_a.pk
    return [
        ("get", reverse("studio-home")),
        ("get", reverse("studio-request-lease", args=[world.terms.pk])),
        ("post", reverse("studio-request-lease", args=[world.terms.pk])),
        ("get", reverse("studio-leases")),
        ("get", reverse("studio-lease", args=[lease])),
        ("get", reverse("studio-lease-cancel", args=[lease])),
        ("post", reverse("studio-lease-cancel", args=[lease])),
        ("post", reverse("studio-token-mint", args=[lease])),
        ("post", reverse("studio-token-revoke", args=[lease, token])),
        ("post", reverse("studio-takedown-acknowledge", args=[lease, 1])),
        ("post", reverse("studio-takedown-attest", args=[lease, 1])),
        ("get", reverse("studio-charges")),
    ]


def test_every_studio_page_sends_anonymous_visitors_to_sign_in(client, world):
    for method, url in _studio_urls(world):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


@pytest.mark.parametrize("who", ["admin", "alice", "outsider"])
def test_every_studio_page_is_refused_to_other_roles(client, world, who):
    user = getattr(world.cast, who)
    client.force_login(getattr(user, "user", user))
    for method, url in _studio_urls(world):
        assert getattr(client, method)(url).status_code == 403, url
    assert LeaseToken.objects.count() == 2 and Lease.objects.count() == 2


def test_the_studio_navigation_names_the_three_pages(carol_client):
    response = carol_client.get(reverse("studio-home"))
    nav = re.search(r'<nav class="role-nav".*?</nav>', response.content.decode(), flags=re.S).group(0)
    for name in ("studio-home", "studio-leases", "studio-charges"):
        assert f'href="{reverse(name)}"' in nav
    assert [label for label in ("Catalogue", "Leases", "Charges") if label in nav] == [
        "Catalogue",
        "Leases",
        "Charges",
    ]


# --- Catalogue ------------------------------------------------------------------------------


def test_the_catalogue_shows_active_terms_with_consent_coverage_from_the_selectors(carol_client, world):
    admin = world.cast.admin
    licensing.terms_create(
        actor=admin,
        dataset=world.dataset,
        title="Voice, 10 days",
        permitted_uses=["voice_synthesis", "training"],
        duration_days=10,
        price_per_generated_second_cents=7,
        download_cap=20,
    )
    hidden = licensing.terms_create(
        actor=admin,
        dataset=world.dataset,
        title="Withdrawn offer",
        permitted_uses=["training"],
        duration_days=5,
    )
    licensing.terms_set_active(actor=admin, terms=hidden, active=False)

    response = carol_client.get(reverse("studio-home"))
    assert response.status_code == 200
    entries = response.context["entries"]
    assert [e["terms"].title for e in entries] == [t.title for t in selectors.catalogue_terms()]
    assert "Withdrawn offer" not in _text(response)
    voice = next(e for e in entries if e["terms"].title == "Voice, 10 days")
    expected = selectors.approval_coverage(voice["terms"])
    # Nobody granted voice synthesis; both assets are consented for training.
    assert voice["coverage"]["per_use"] == expected["per_use"] == [("training", 2), ("voice_synthesis", 0)]
    text = _text(response)
    assert "Training AI models 2 of 2" in text
    assert "Voice synthesis 0 of 2" in text
    assert "All permitted uses together 0 of 2" in text
    assert "Per generated second 0.07 USD" in text and "20 downloads" in text
    assert "Flat fee 10.00 USD" in text  # the world's training terms
    assert "Face scan: 2" in text
    assert f'href="{reverse("studio-request-lease", args=[world.terms.pk])}"' in response.content.decode()


def test_the_catalogue_filters_by_permitted_use_and_by_asset_kind(carol_client, world):
    licensing.terms_create(
        actor=world.cast.admin,
        dataset=world.dataset,
        title="Crowds only",
        permitted_uses=["crowd_generation"],
        duration_days=10,
    )
    everything = carol_client.get(reverse("studio-home"))
    assert len(everything.context["entries"]) == 2

    crowds = carol_client.get(reverse("studio-home"), {"use": "crowd_generation"})
    assert [e["terms"].title for e in crowds.context["entries"]] == ["Crowds only"]
    assert "1 of 2 terms match" in _text(crowds)

    by_kind = carol_client.get(reverse("studio-home"), {"kind": "face_scan"})
    assert len(by_kind.context["entries"]) == 2

    unknown = carol_client.get(reverse("studio-home"), {"use": "capture", "kind": "hologram"})
    assert unknown.status_code == 200 and len(unknown.context["entries"]) == 2

    none = carol_client.get(reverse("studio-home"), {"kind": "script"})
    assert none.context["entries"] == []
    assert "No terms on offer match these filters" in _text(none)


# --- Requesting a lease ---------------------------------------------------------------------


def test_a_lease_request_is_written_and_lands_on_its_page(carol_client, world):
    url = reverse("studio-request-lease", args=[world.terms.pk])
    page = carol_client.get(url)
    assert page.status_code == 200 and "Training" in _text(page)
    assert 'maxlength="5000"' in page.content.decode()

    response = carol_client.post(url, {"purpose": "  Crowd model for 'Dockside'  "}, follow=True)
    lease = Lease.objects.exclude(pk__in=[world.lease_a.pk, world.lease_b.pk]).get()
    assert response.redirect_chain == [(reverse("studio-lease", args=[lease.pk]), 302)]
    assert (lease.studio, lease.status, lease.purpose) == (
        world.cast.studio_a,
        "requested",
        "Crowd model for 'Dockside'",
    )
    assert "the trust will decide" in " ".join(_messages(response))
    assert "Requested" in _text(response)
    assert "once the lease is approved you can mint tokens here" in _text(response)


def test_a_lease_request_without_a_purpose_writes_nothing(carol_client, world):
    response = carol_client.post(reverse("studio-request-lease", args=[world.terms.pk]), {"purpose": "   "})
    assert response.status_code == 200
    assert response.context["form"].errors["purpose"]
    assert Lease.objects.count() == 2


def test_terms_no_longer_offered_cannot_be_requested(carol_client, world):
    licensing.terms_set_active(actor=world.cast.admin, terms=world.terms, active=False)
    url = reverse("studio-request-lease", args=[world.terms.pk])
    assert carol_client.get(url).status_code == 404
    response = carol_client.post(url, {"purpose": "late"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("studio-home")
    assert "these terms are no longer offered" in _messages(response)
    assert Lease.objects.count() == 2


def test_unknown_terms_are_a_404(carol_client):
    assert carol_client.get(reverse("studio-request-lease", args=[999999])).status_code == 404


# --- Leases ---------------------------------------------------------------------------------


def test_the_lease_list_shows_only_the_studios_own_leases_with_open_takedowns(carol_client, world):
    _withdraw_bob_training(world)
    response = carol_client.get(reverse("studio-leases"))
    assert response.status_code == 200
    assert [lease.pk for lease in response.context["listing"].rows] == [world.lease_a.pk]
    assert response.context["listing"].rows[0].open_takedowns == 1
    text = _text(response)
    assert "A's model" in text and "B's model" not in text
    assert "1 to act on" in text and "Active" in text


def test_another_studios_lease_is_a_404_and_nothing_is_written(carol_client, world):
    other = world.lease_b.pk
    assert carol_client.get(reverse("studio-lease", args=[other])).status_code == 404
    assert carol_client.post(reverse("studio-token-mint", args=[other]), {"name": "x"}).status_code == 404
    token_b = world.lease_b.tokens.get()
    assert carol_client.post(reverse("studio-token-revoke", args=[other, token_b.pk])).status_code == 404
    # Nor through the studio's own lease's address.
    own = world.lease_a.pk
    assert carol_client.post(reverse("studio-token-revoke", args=[own, token_b.pk])).status_code == 404
    assert LeaseToken.objects.filter(revoked_at__isnull=False).count() == 0
    assert LeaseToken.objects.count() == 2


def test_the_lease_page_shows_the_manifest_and_usage_figures_of_the_selectors(carol_client, world):
    bearer = bearer_client(world.secret_a)
    bearer.post(
        f"/api/v1/leases/{world.lease_a.pk}/usage/",
        {
            "events": [
                {"event_key": "r1", "kind": "training_run", "quantity": 3, "occurred_at": timezone.now()}
            ]
        },
        format="json",
    )
    manifest = json_body(bearer.get(f"/api/v1/leases/{world.lease_a.pk}/manifest/"))
    response = carol_client.get(reverse("studio-lease", args=[world.lease_a.pk]))
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    summary = response.context["manifest"]
    assert summary == selectors.lease_manifest_summary(world.lease_a)
    assert summary["licensable"] == len(manifest["assets"]) == 2
    assert summary["manifest_sha256"] == manifest["manifest_sha256"]
    text = _text(response)
    assert manifest["manifest_sha256"] in text
    assert "Face scan 2 2" in text
    assert "Training runs 1 3 1.00" in text  # one event, three runs, at 1.00 USD
    assert "Downloads 0 0 0.10" in text
    assert "a-farm" in text


def test_the_manifest_summary_drops_an_asset_when_consent_is_withdrawn(carol_client, world):
    _withdraw_bob_training(world)
    response = carol_client.get(reverse("studio-lease", args=[world.lease_a.pk]))
    assert response.context["manifest"]["kinds"] == [{"kind": "face_scan", "licensable": 1, "total": 2}]


# --- Tokens ---------------------------------------------------------------------------------


def _mint_key(client, lease) -> str:
    """The one-time key of the mint form, as the lease page renders it."""
    page = client.get(reverse("studio-lease", args=[lease.pk])).content.decode()
    return re.search(r'name="mint_key" value="([^"]+)"', page).group(1)


def _mint(client, lease, **fields):
    return client.post(
        reverse("studio-token-mint", args=[lease.pk]), {"mint_key": _mint_key(client, lease), **fields}
    )


def _secret_in(response) -> str:
    return re.search(r'<code id="new-token">(lt_[^<]+)</code>', response.content.decode()).group(1)


def test_a_minted_token_is_shown_once_and_opens_the_manifest(carol_client, world):
    lease = world.lease_a
    minted = _mint(carol_client, lease, name="ci-puller", lifetime_days="2")
    token = lease.tokens.get(name="ci-puller")
    assert (
        timezone.now() + timezone.timedelta(days=1)
        < token.expires_at
        <= timezone.now() + timezone.timedelta(days=2)
    )
    # The response to the post that minted it shows the secret, and nothing may store it.
    assert minted.status_code == 200
    secret = _secret_in(minted)
    assert "it will not be shown again" in _text(minted)
    assert f"/api/v1/leases/{lease.pk}/manifest/" in _text(minted)
    assert "no-store" in minted["Cache-Control"]

    again = carol_client.get(reverse("studio-lease", args=[lease.pk]))
    assert secret not in again.content.decode() and 'id="new-token"' not in again.content.decode()
    assert bearer_client(secret).get(f"/api/v1/leases/{lease.pk}/manifest/").status_code == 200


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def test_a_minted_secret_never_sits_in_the_session_table(carol_client, world):
    """After minting, no session row holds the token's secret (found by its stored hash)."""
    from django.contrib.sessions.models import Session

    from trust.tokens import hash_secret

    _mint(carol_client, world.lease_a, name="ci-puller")
    token_hash = world.lease_a.tokens.get(name="ci-puller").token_hash
    rows = list(Session.objects.all())
    assert rows
    held = [s for row in rows for s in _strings(row.get_decoded()) if hash_secret(s) == token_hash]
    assert held == []


def test_reposting_the_mint_form_mints_nothing(carol_client, world):
    """A reload of the page that shows a new secret sends its form again: no second token."""
    lease = world.lease_a
    form = {"mint_key": _mint_key(carol_client, lease), "name": "ci-puller"}
    url = reverse("studio-token-mint", args=[lease.pk])
    assert carol_client.post(url, form).status_code == 200
    count = lease.tokens.count()
    reloaded = carol_client.post(url, form, follow=True)
    assert reloaded.redirect_chain == [(reverse("studio-lease", args=[lease.pk]), 302)]
    assert lease.tokens.count() == count
    assert 'id="new-token"' not in reloaded.content.decode()
    assert any(m.startswith("Nothing minted: that form was already sent") for m in _messages(reloaded))
    forged = carol_client.post(url, {**form, "mint_key": "never-issued"})
    assert forged.status_code == 302 and lease.tokens.count() == count


def test_a_token_is_not_minted_for_a_lease_that_is_not_active(carol_client, world):
    requested = licensing.lease_request(actor=world.cast.carol, terms=world.terms, purpose="next season")
    key = _mint_key(carol_client, world.lease_a)  # the page of a requested lease has no mint form
    response = carol_client.post(
        reverse("studio-token-mint", args=[requested.pk]), {"name": "early", "mint_key": key}, follow=True
    )
    assert "this lease is requested, not active" in _messages(response)
    assert 'id="new-token"' not in response.content.decode()
    assert not requested.tokens.exists()


def test_a_token_without_a_name_is_refused_on_the_page(carol_client, world):
    response = _mint(carol_client, world.lease_a, name="")
    assert response.status_code == 200
    assert response.context["mint_form"].errors["name"]
    assert world.lease_a.tokens.count() == 1


def test_a_revoked_token_is_refused_by_the_api_at_once(carol_client, world):
    lease, token = world.lease_a, world.token_a
    bearer = bearer_client(world.secret_a)
    assert bearer.get(f"/api/v1/leases/{lease.pk}/manifest/").status_code == 200
    response = carol_client.post(reverse("studio-token-revoke", args=[lease.pk, token.pk]), follow=True)
    assert response.redirect_chain == [(reverse("studio-lease", args=[lease.pk]), 302)]
    assert "Token “a-farm” revoked: it is refused from now on." in _messages(response)
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == world.cast.carol
    refused = bearer.get(f"/api/v1/leases/{lease.pk}/manifest/")
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"
    assert "Revoked" in _text(response)
    assert reverse("studio-token-revoke", args=[lease.pk, token.pk]) not in response.content.decode()


# --- Takedowns ------------------------------------------------------------------------------


def test_an_open_takedown_is_highlighted_then_acknowledged_then_attested(carol_client, world):
    takedown = _withdraw_bob_training(world)
    lease_url = reverse("studio-lease", args=[world.lease_a.pk])
    page = carol_client.get(lease_url)
    html = page.content.decode()
    assert '<section class="card warning" id="takedowns-open"' in html
    assert "1 takedown notice needs action" in _text(page)
    assert str(takedown.asset_id) in html
    ack_url = reverse("studio-takedown-acknowledge", args=[world.lease_a.pk, takedown.pk])
    attest_url = reverse("studio-takedown-attest", args=[world.lease_a.pk, takedown.pk])
    assert ack_url in html and attest_url not in html

    acknowledged = carol_client.post(ack_url, follow=True)
    assert any("acknowledged" in m for m in _messages(acknowledged))
    takedown.refresh_from_db()
    assert takedown.status == "acknowledged" and takedown.acknowledged_by == world.cast.carol
    assert attest_url in acknowledged.content.decode()

    prefix = f"takedown-{takedown.pk}"
    empty = carol_client.post(attest_url, {f"{prefix}-statement": "  "})
    assert empty.status_code == 200
    assert empty.context["open_takedowns"][0].attest_form.errors["statement"]
    takedown.refresh_from_db()
    assert takedown.status == "acknowledged" and takedown.attestation == ""

    statement = "Deleted from the render farm and backups on 3 March."
    attested = carol_client.post(attest_url, {f"{prefix}-statement": statement}, follow=True)
    takedown.refresh_from_db()
    assert (takedown.status, takedown.attestation, takedown.attested_by) == (
        "deletion_attested",
        statement,
        world.cast.carol,
    )
    assert "Deletion attested" in " ".join(_messages(attested))
    assert 'id="takedowns-open"' not in attested.content.decode()
    assert statement in _text(attested)


def test_attesting_before_acknowledging_is_refused_with_the_services_message(carol_client, world):
    takedown = _withdraw_bob_training(world)
    url = reverse("studio-takedown-attest", args=[world.lease_a.pk, takedown.pk])
    response = carol_client.post(url, {f"takedown-{takedown.pk}-statement": "gone"}, follow=True)
    assert "acknowledge the notice before attesting deletion" in _messages(response)
    takedown.refresh_from_db()
    assert takedown.status == "issued" and takedown.attestation == ""


def test_another_studios_takedown_is_a_404(carol_client, world):
    _withdraw_bob_training(world)
    theirs = Takedown.objects.get(lease=world.lease_b)
    for name in ("studio-takedown-acknowledge", "studio-takedown-attest"):
        assert carol_client.post(reverse(name, args=[world.lease_b.pk, theirs.pk])).status_code == 404
        assert carol_client.post(reverse(name, args=[world.lease_a.pk, theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "issued"


# --- Charges -------------------------------------------------------------------------------


def test_a_studio_with_no_closed_period_sees_an_empty_state(carol_client):
    response = carol_client.get(reverse("studio-charges"))
    assert response.status_code == 200 and response.context["periods"] == 0
    assert "No charges yet" in _text(response)


def test_the_lease_page_shows_the_downloads_left_the_gateway_counts_against_the_cap(carol_client, world):
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=2)
    url = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/"
    page = reverse("studio-lease", args=[world.lease_a.pk])

    assert bearer_client(world.secret_a).get(url).status_code == 302
    assert "1 of 2 capped downloads left." in _text(carol_client.get(page))
    # The same asset with the same token again: a refresh inside the pull window, not counted.
    assert bearer_client(world.secret_a).get(url).status_code == 302
    assert "1 of 2 capped downloads left." in _text(carol_client.get(page))
    assert (
        bearer_client(world.secret_a)
        .get(url.replace(str(world.alice_asset.pk), str(world.bob_asset.pk)))
        .status_code
        == 302
    )
    assert "0 of 2 capped downloads left." in _text(carol_client.get(page))
    _, other_token = lease_tokens.lease_token_mint(actor=world.cast.carol, lease=world.lease_a, name="rig 2")
    refused = bearer_client(other_token).get(url)
    assert refused.status_code == 409 and refused.json()["code"] == "download_cap_reached"
    lease = Lease.objects.get(pk=world.lease_a.pk)
    assert selectors.downloads_left(lease) == 0
