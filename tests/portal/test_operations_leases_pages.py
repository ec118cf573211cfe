"""The administrator's lease and terms pages: what an administrator sees (the same figures as the
selectors and the API), what each decision writes, what is refused and with which message, and
that nobody else gets in."""

import re
from urllib.parse import parse_qs

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse
from django.utils import timezone

from licensing import selectors
from licensing import services as licensing
from licensing import tokens as lease_tokens
from licensing.models import Lease, LeaseTerms, Takedown
from licensing.pages.forms_operations import cents_from_text
from trust import services as trust
from trust.errors import Gone, Invalid
from trust.models import AuditEvent, Consent
from trust.selectors import consent_coverage, licensable_assets

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    """The page's visible text, whitespace collapsed, for asserting what a reader sees."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _section(response, element_id: str) -> str:
    """The visible text of the element with this id up to the next section of the page."""
    html = response.content.decode()
    start = html.index(f'id="{element_id}"')
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[start : start + 4000]))


@pytest.fixture
def admin_client(client, world):
    client.force_login(world.cast.admin)
    return client


@pytest.fixture
def crowd_terms(world):
    """Terms needing training and crowd generation: only Alice granted crowd generation, so only
    her own asset is licensable for both (Bob co-owns the other)."""
    alice = world.cast.alice
    trust.consent_grant(actor=alice.user, member=alice, use="crowd_generation")
    return licensing.terms_create(
        actor=world.cast.admin,
        dataset=world.dataset,
        title="Crowds",
        permitted_uses=["training", "crowd_generation"],
        duration_days=10,
        flat_fee_cents=50_000,
    )


@pytest.fixture
def pending(world, crowd_terms) -> Lease:
    return licensing.lease_request(actor=world.cast.carol, terms=crowd_terms, purpose="Stadium crowds")


# --- who may see the pages ------------------------------------------------------------------


def _pages(world, pending):
    lease = world.lease_a
    return [
        ("get", reverse("operations-leases")),
        ("get", reverse("operations-lease", args=[lease.pk])),
        ("get", reverse("operations-terms")),
        ("post", reverse("operations-terms")),
        ("post", reverse("operations-lease-approve", args=[pending.pk])),
        ("post", reverse("operations-lease-reject", args=[pending.pk])),
        ("post", reverse("operations-lease-revoke", args=[lease.pk])),
        ("post", reverse("operations-terms-activate", args=[world.terms.pk])),
        ("post", reverse("operations-terms-deactivate", args=[world.terms.pk])),
    ]


def test_anonymous_visitors_are_sent_to_the_login_page(client, world, pending):
    for method, url in _pages(world, pending):
        response = getattr(client, method)(url, {"reason": "x"})
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


@pytest.mark.parametrize("who", ["alice", "carol", "outsider"])
def test_members_studio_staff_and_roleless_logins_get_403_and_nothing_changes(client, world, pending, who):
    client.force_login(getattr(world.cast, who) if who != "alice" else world.cast.alice.user)
    for method, url in _pages(world, pending):
        response = getattr(client, method)(url, {"reason": "x"})
        assert response.status_code == 403, (who, url)
    pending.refresh_from_db()
    world.lease_a.refresh_from_db()
    world.terms.refresh_from_db()
    assert pending.status == Lease.Status.REQUESTED
    assert world.lease_a.status == Lease.Status.ACTIVE
    assert world.terms.active is True


def test_a_get_of_approve_only_asks_for_confirmation(admin_client, pending):
    response = admin_client.get(reverse("operations-lease-approve", args=[pending.pk]))
    assert response.status_code == 200
    assert f"Approve Lease #{pending.pk}" in response.content.decode()
    assert admin_client.get(reverse("operations-lease-reject", args=[pending.pk])).status_code == 405
    pending.refresh_from_db()
    assert pending.status == Lease.Status.REQUESTED


def test_an_unknown_lease_is_a_404(admin_client):
    assert admin_client.get(reverse("operations-lease", args=[999999])).status_code == 404
    assert admin_client.post(reverse("operations-lease-approve", args=[999999])).status_code == 404
    assert (
        admin_client.post(reverse("operations-lease-revoke", args=[999999]), {"reason": "x"}).status_code
        == 404
    )
    assert admin_client.post(reverse("operations-terms-deactivate", args=[999999])).status_code == 404


# --- the leases page ------------------------------------------------------------------------


def test_the_waiting_request_shows_the_coverage_approval_would_pin(admin_client, world, pending):
    version = world.dataset.versions.get()
    now = timezone.now()
    all_uses = licensable_assets(
        assets=version.assets.all(), uses=pending.terms.permitted_uses, at=now
    ).count()
    per_use = consent_coverage(assets=version.assets.all(), at=now)
    assert (all_uses, per_use["training"], per_use["crowd_generation"]) == (1, 2, 1)

    response = admin_client.get(reverse("operations-leases"))

    assert response.status_code == 200
    coverage = _section(response, f"coverage-{pending.pk}")
    assert f"{all_uses} of 2 assets of World v1 are licensable for every permitted use" in coverage
    assert f"Training AI models {per_use['training']} of 2" in coverage
    assert f"Crowd generation {per_use['crowd_generation']} of 2" in coverage
    request_card = _section(response, f"request-{pending.pk}")
    assert "Studio A" in request_card and "Crowds" in request_card and "Stadium crowds" in request_card
    assert 'id="stat-waiting">1<' in response.content.decode()


def test_waiting_requests_come_oldest_first(admin_client, world, pending):
    newer = licensing.lease_request(actor=world.cast.dave, terms=world.terms, purpose="Later")
    html = admin_client.get(reverse("operations-leases")).content.decode()
    assert html.index(f'id="request-{pending.pk}"') < html.index(f'id="request-{newer.pk}"')


def test_a_request_for_a_dataset_without_a_version_warns_that_approval_will_be_refused(admin_client, world):
    dataset = trust.dataset_create(actor=world.cast.admin, slug="unfrozen", title="Unfrozen")
    terms = licensing.terms_create(
        actor=world.cast.admin, dataset=dataset, title="Early", permitted_uses=["training"], duration_days=5
    )
    lease = licensing.lease_request(actor=world.cast.carol, terms=terms, purpose="Too early")
    response = admin_client.get(reverse("operations-leases"))
    assert "Unfrozen has no frozen version yet" in _section(response, f"coverage-{lease.pk}")


def test_requests_under_several_terms_each_show_their_own_coverage_read_in_one_query(
    admin_client, world, pending
):
    """Requests under four terms on one page: training and crowds, training alone, a second
    dataset frozen twice (its latest version counts) and a dataset never frozen. Each card reads
    its own terms' figures, as the licensability rule counts them, and the page reads as many
    queries as with one terms."""
    admin = world.cast.admin
    with CaptureQueriesContext(connection) as one_terms:
        assert admin_client.get(reverse("operations-leases")).status_code == 200
    solo = trust.dataset_create(actor=admin, slug="solo", title="Solo")
    trust.dataset_add_assets(actor=admin, dataset=solo, asset_ids=[world.alice_asset.pk])
    trust.dataset_freeze(actor=admin, dataset=solo)
    trust.dataset_add_assets(actor=admin, dataset=solo, asset_ids=[world.bob_asset.pk])
    trust.dataset_freeze(actor=admin, dataset=solo)
    unfrozen = trust.dataset_create(actor=admin, slug="unfrozen", title="Unfrozen")
    training = licensing.lease_request(actor=world.cast.dave, terms=world.terms, purpose="Plain")
    solo_request, unfrozen_request = (
        licensing.lease_request(
            actor=world.cast.carol,
            terms=licensing.terms_create(
                actor=admin, dataset=dataset, title=title, permitted_uses=["training"], duration_days=5
            ),
            purpose=title,
        )
        for dataset, title in ((solo, "Solo offer"), (unfrozen, "Early"))
    )

    with CaptureQueriesContext(connection) as four_terms:
        response = admin_client.get(reverse("operations-leases"))

    assert len(four_terms) == len(one_terms)
    now = timezone.now()
    for request, version, uses in (
        (pending, world.dataset.versions.get(), ["training", "crowd_generation"]),
        (training, world.dataset.versions.get(), ["training"]),
        (solo_request, solo.versions.get(number=2), ["training"]),
    ):
        licensable = licensable_assets(assets=version.assets.all(), uses=uses, at=now).count()
        figure = f"{licensable} of 2 assets of {version.dataset.title} v{version.number} are licensable"
        assert figure in _section(response, f"coverage-{request.pk}"), request.purpose
    assert "Crowd generation 1 of 2" in _section(response, f"coverage-{pending.pk}")
    assert "Unfrozen has no frozen version yet" in _section(response, f"coverage-{unfrozen_request.pk}")


def test_every_lease_link_on_the_list_resolves_to_that_leases_page_or_decision(admin_client, world, pending):
    """The list writes its rows' links from one reversed path, not a reverse per link: each still
    resolves to its lease's page, approval, rejection or revocation, and carries the list back."""
    page = reverse("operations-leases") + "?active-sort=studio"
    html = admin_client.get(page).content.decode()

    links = set()
    for target in re.findall(r'(?:href|action)="(/operations/leases/\d+/[^"]*)"', html):
        path, _, query = target.partition("?")
        match = resolve(path)
        links.add((match.url_name, match.kwargs["lease_id"]))
        if query:
            assert parse_qs(query.replace("&amp;", "&")) == {"next": [page]}, target

    active = {world.lease_a.pk, world.lease_b.pk}
    assert links == {
        ("operations-lease", pending.pk),
        ("operations-lease-approve", pending.pk),
        ("operations-lease-reject", pending.pk),
        *{("operations-lease", pk) for pk in active},
        *{("operations-lease-revoke", pk) for pk in active},
    }
    assert f'<input type="hidden" name="next" value="{page.replace("&", "&amp;")}">' in html


def test_approving_pins_the_latest_version_and_lists_the_lease_as_active(admin_client, world, pending):
    response = admin_client.post(reverse("operations-lease-approve", args=[pending.pk]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("operations-leases")
    pending.refresh_from_db()
    assert pending.status == Lease.Status.ACTIVE
    assert pending.version == world.dataset.versions.get()
    assert list(pending.approval_assets.values_list("pk", flat=True)) == [world.alice_asset.pk]
    assert f"Lease #{pending.pk} for Studio A approved: it is active now." in _messages(response)
    active_row = _section(response, f"lease-{pending.pk}")
    assert "World v1" in active_row and "Crowd generation" in active_row
    assert f'id="request-{pending.pk}"' not in response.content.decode()


def test_approval_with_nothing_licensable_is_refused_and_writes_nothing(admin_client, world):
    terms = licensing.terms_create(
        actor=world.cast.admin,
        dataset=world.dataset,
        title="Voices",
        permitted_uses=["voice_synthesis"],
        duration_days=5,
    )
    lease = licensing.lease_request(actor=world.cast.carol, terms=terms, purpose="Voices")
    events = AuditEvent.objects.count()

    response = admin_client.post(reverse("operations-lease-approve", args=[lease.pk]), follow=True)

    assert response.status_code == 200
    assert "no asset of this version is consented for the permitted uses" in _messages(response)
    lease.refresh_from_db()
    assert (lease.status, lease.version, lease.starts_at) == (Lease.Status.REQUESTED, None, None)
    assert not lease.approval_assets.exists()
    assert AuditEvent.objects.count() == events
    assert "approval will be refused" in _section(response, f"coverage-{lease.pk}")


def test_rejecting_with_a_reason_closes_the_request_and_shows_the_reason(admin_client, world, pending):
    response = admin_client.post(
        reverse("operations-lease-reject", args=[pending.pk]), {"reason": "Not for crowds"}, follow=True
    )

    pending.refresh_from_db()
    assert (pending.status, pending.decision_reason) == (Lease.Status.REJECTED, "Not for crowds")
    assert pending.decided_by == world.cast.admin
    assert f"Lease #{pending.pk} for Studio A rejected; the studio sees your reason." in _messages(response)
    closed_row = _section(response, f"lease-{pending.pk}")
    assert "Rejected" in closed_row and "Not for crowds" in closed_row


def test_a_rejection_without_a_reason_is_refused(admin_client, pending):
    response = admin_client.post(
        reverse("operations-lease-reject", args=[pending.pk]), {"reason": "   "}, follow=True
    )
    assert f"Give the studio a reason before you reject Lease #{pending.pk}." in _messages(response)
    pending.refresh_from_db()
    assert pending.status == Lease.Status.REQUESTED


def test_rejecting_an_active_lease_is_refused_with_the_services_message(admin_client, world):
    response = admin_client.post(
        reverse("operations-lease-reject", args=[world.lease_a.pk]), {"reason": "Changed mind"}, follow=True
    )
    assert "this lease is active; only a requested lease can be rejected" in _messages(response)
    world.lease_a.refresh_from_db()
    assert (world.lease_a.status, world.lease_a.decision_reason) == (Lease.Status.ACTIVE, "")


def test_revoking_ends_the_lease_and_its_tokens_at_once(admin_client, world):
    response = admin_client.post(
        reverse("operations-lease-revoke", args=[world.lease_a.pk]),
        {"reason": "Breach of terms"},
        follow=True,
    )

    world.lease_a.refresh_from_db()
    assert world.lease_a.status == Lease.Status.REVOKED
    assert world.lease_a.revoked_at is not None
    assert world.lease_a.decision_reason == "Breach of terms"
    with pytest.raises(Gone):
        lease_tokens.lease_token_authenticate(world.secret_a)
    assert any("revoked: its tokens stopped working at once" in m for m in _messages(response))
    assert "Breach of terms" in _section(response, f"lease-{world.lease_a.pk}")
    assert 'id="stat-active">1<' in response.content.decode()  # lease B is still active


def test_revoking_without_a_reason_is_refused(admin_client, world):
    response = admin_client.post(reverse("operations-lease-revoke", args=[world.lease_a.pk]), {}, follow=True)
    assert f"Give the studio a reason before you revoke Lease #{world.lease_a.pk}." in _messages(response)
    world.lease_a.refresh_from_db()
    assert world.lease_a.status == Lease.Status.ACTIVE


def test_a_decision_returns_to_the_page_it_came_from_but_never_off_site(admin_client, pending, world):
    detail = reverse("operations-lease", args=[pending.pk])
    response = admin_client.post(
        reverse("operations-lease-reject", args=[pending.pk]), {"reason": "No", "next": detail}
    )
    assert response["Location"] == detail
    response = admin_client.post(
        reverse("operations-lease-revoke", args=[world.lease_a.pk]),
        {"reason": "No", "next": "https://elsewhere.example/"},
    )
    assert response["Location"] == reverse("operations-leases")


def test_active_leases_count_open_takedowns(admin_client, world):
    bob = world.cast.bob
    grant = Consent.objects.get(member=bob, use="training", state=Consent.State.GRANTED, asset=None)
    trust.consent_withdraw(actor=bob.user, consent=grant)
    assert world.lease_a.takedowns.count() == 1

    response = admin_client.get(reverse("operations-leases"))

    assert "1 open" in _section(response, f"lease-{world.lease_a.pk}")
    assert 'id="stat-takedowns">2<' in response.content.decode()  # one on each studio's lease


# --- one lease ------------------------------------------------------------------------------


def test_the_lease_page_shows_version_usage_tokens_and_takedowns_but_no_secret(admin_client, world):
    lease = world.lease_a
    licensing.usage_report(
        token=world.token_a,
        lease_id=lease.pk,
        events=[
            {"event_key": "r1", "kind": "training_run", "quantity": 3, "occurred_at": timezone.now()},
            {"event_key": "r2", "kind": "training_run", "quantity": 4, "occurred_at": timezone.now()},
        ],
    )
    licensing.gateway_download(token=world.token_a, lease_id=lease.pk, asset_id=world.alice_asset.pk)
    bob = world.cast.bob
    trust.consent_withdraw(
        actor=bob.user, consent=Consent.objects.get(member=bob, use="training", asset=None)
    )

    response = admin_client.get(reverse("operations-lease", args=[lease.pk]))

    assert response.status_code == 200
    text = _text(response)
    assert lease.version.manifest_sha256 in text
    summary = selectors.usage_summary(lease)
    assert summary["training_run"] == {"events": 2, "quantity": 7}
    assert "Training run 2 7 1.00" in text
    assert "Download 1 1 0.10" in text
    assert "a-farm Active" in text
    assert world.secret_a not in response.content.decode()
    assert world.token_a.token_hash not in response.content.decode()
    assert f"{world.bob_asset.title} (face scan) Issued" in _section(response, "takedowns")
    assert "2 in the version, 2 licensable at approval, 1 licensable now" in text
    assert 'id="stat-licensable-now">1<' in response.content.decode()


def test_a_requested_lease_page_offers_the_decision_with_its_coverage(admin_client, pending):
    response = admin_client.get(reverse("operations-lease", args=[pending.pk]))
    text = _text(response)
    assert "1 of 2 assets of World v1 are licensable now for every permitted use" in text
    assert f"Approve Lease #{pending.pk}" in text and f"Reject Lease #{pending.pk}" in text
    assert "500.00 USD" in text  # the terms' flat fee, shown before approval copies it
    assert "Usage, lease tokens and takedown notices begin once a lease is approved." in text
    assert 'id="usage"' not in response.content.decode()


def test_a_rejected_lease_page_shows_who_decided_and_why(admin_client, world, pending):
    licensing.lease_reject(actor=world.cast.admin, lease=pending, reason="Too broad a purpose")
    text = _text(admin_client.get(reverse("operations-lease", args=[pending.pk])))
    assert f"Lease #{pending.pk}: Studio A Rejected" in text
    assert "by admin" in text and "Reason Too broad a purpose" in text
    assert "the lease was never approved" in text
    assert "Revoke Lease" not in text and "Approve Lease" not in text


# --- terms ----------------------------------------------------------------------------------


def test_the_terms_page_lists_active_and_inactive_terms_with_their_prices(admin_client, world):
    licensing.terms_set_active(actor=world.cast.admin, terms=world.terms, active=False)
    other = licensing.terms_create(
        actor=world.cast.admin,
        dataset=world.dataset,
        title="Replicas",
        permitted_uses=["replica_active"],
        duration_days=90,
        flat_fee_cents=123_456,
        price_per_generated_second_cents=7,
        download_cap=40,
    )

    response = admin_client.get(reverse("operations-terms"))

    row = _section(response, f"terms-{other.pk}")
    assert "Replicas" in row and "World" in row and "90 days" in row and "1,234.56" in row
    assert "0.07 per generated second" in row and "40" in row and "USD" in row and "Offered" in row
    old = _section(response, f"terms-{world.terms.pk}")
    assert "Withdrawn" in old and "Activate" in old and "10.00 USD" in old and "2 leases" in old


def test_deactivating_and_activating_terms_changes_the_catalogue(admin_client, world):
    response = admin_client.post(reverse("operations-terms-deactivate", args=[world.terms.pk]), follow=True)
    world.terms.refresh_from_db()
    assert world.terms.active is False
    assert world.terms not in selectors.catalogue_terms()
    assert "Terms “Training” withdrawn from the catalogue." in _messages(response)

    admin_client.post(reverse("operations-terms-activate", args=[world.terms.pk]))
    world.terms.refresh_from_db()
    assert world.terms.active is True
    assert world.terms in selectors.catalogue_terms()


def _terms_form(world, **overrides) -> dict:
    data = {
        "dataset": world.dataset.pk,
        "title": "Voices of the harbour",
        "permitted_uses": ["training", "voice_synthesis"],
        "duration_days": "45",
        "flat_fee": "1200.50",
        "price_per_download": "0.05",
        "price_per_training_run": "19.99",
        "price_per_generated_second": "",
        "download_cap": "",
    }
    data.update(overrides)
    return data


def test_creating_terms_converts_prices_to_exact_cents(admin_client, world):
    response = admin_client.post(reverse("operations-terms"), _terms_form(world), follow=True)

    terms = LeaseTerms.objects.get(title="Voices of the harbour")
    assert response.redirect_chain[-1][0] == f"{reverse('operations-terms')}#terms-{terms.pk}"
    assert (
        terms.flat_fee_cents,
        terms.price_per_download_cents,
        terms.price_per_training_run_cents,
        terms.price_per_generated_second_cents,
    ) == (120_050, 5, 1_999, 0)
    assert terms.permitted_uses == ["training", "voice_synthesis"]
    assert (terms.duration_days, terms.download_cap, terms.currency, terms.active) == (45, None, "USD", True)
    assert "Terms “Voices of the harbour” created and offered in the catalogue." in _messages(response)
    assert "1,200.50" in _section(response, f"terms-{terms.pk}")


def test_days_to_pay_set_on_the_form_show_on_the_terms(admin_client, world):
    response = admin_client.post(
        reverse("operations-terms"), _terms_form(world, payment_days="14"), follow=True
    )

    terms = LeaseTerms.objects.get(title="Voices of the harbour")
    assert terms.payment_days == 14
    assert "invoices due in 14 days" in _section(response, f"terms-{terms.pk}")


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("flat_fee", "10.001", "Use at most two decimals (whole cents)."),
        ("price_per_download", "-1", "An amount must not be negative."),
        ("price_per_training_run", "1e3", "Enter an amount such as 1200 or 1200.50."),
        ("flat_fee", "12,00", "Enter an amount such as 1200 or 1200.50."),
        ("permitted_uses", [], "This field is required."),
        ("permitted_uses", ["capture"], "Select a valid choice."),
        ("duration_days", "0", "Ensure this value is greater than or equal to 1."),
        ("download_cap", "0", "Ensure this value is greater than or equal to 1."),
        ("payment_days", "366", "Ensure this value is less than or equal to 365."),
    ],
)
def test_bad_terms_input_is_refused_on_the_form_and_nothing_is_created(
    admin_client, world, field, value, error
):
    before = LeaseTerms.objects.count()
    response = admin_client.post(reverse("operations-terms"), _terms_form(world, **{field: value}))
    assert response.status_code == 200
    assert error in response.content.decode().replace("&quot;", '"').replace("&#x27;", "'")
    assert LeaseTerms.objects.count() == before
    assert 'value="Voices of the harbour"' in response.content.decode()  # the input is kept


def test_a_domain_error_from_terms_create_is_shown_and_the_form_kept(admin_client, world, monkeypatch):
    def refuse(**kwargs):
        raise Invalid("this trust works in EUR only", code="bad_currency")

    monkeypatch.setattr(licensing, "terms_create", refuse)
    response = admin_client.post(reverse("operations-terms"), _terms_form(world))
    assert response.status_code == 200
    assert "this trust works in EUR only" in _messages(response)
    assert 'value="Voices of the harbour"' in response.content.decode()


@pytest.mark.parametrize(
    ("text", "cents"),
    [("0", 0), ("0.1", 10), ("0.10", 10), ("19.99", 1999), (" 7 ", 700), ("1200.5", 120_050), ("-0", 0)],
)
def test_amounts_become_exact_cents(text, cents):
    assert cents_from_text(text) == cents


def test_a_revoked_leases_notices_stay_open_and_its_tokens_read_as_ended(admin_client, world):
    bob = world.cast.bob
    grant = Consent.objects.get(member=bob, use="training", state=Consent.State.GRANTED, asset=None)
    trust.consent_withdraw(actor=bob.user, consent=grant)
    admin_client.post(reverse("operations-lease-revoke", args=[world.lease_a.pk]), {"reason": "Withdrawn"})

    response = admin_client.get(reverse("operations-leases"))
    assert "Revoked" in _section(response, f"lease-{world.lease_a.pk}")
    assert "1 open" in _section(response, f"lease-{world.lease_a.pk}")
    assert 'id="stat-takedowns">2<' in response.content.decode()
    assert Takedown.objects.open().count() == 2

    text = _text(admin_client.get(reverse("operations-lease", args=[world.lease_a.pk])))
    assert "a-farm Lease ended" in text
    assert "Revoke lease" not in text


def test_the_api_and_the_form_refuse_the_same_over_limit_price_with_the_same_message(
    admin_client, as_user, world
):
    over_limit_cents = licensing.PRICE_MAX_CENTS + 1
    form = admin_client.post(
        reverse("operations-terms"),
        _terms_form(world, flat_fee=f"{over_limit_cents // 100}.{over_limit_cents % 100:02d}"),
    )
    api = as_user(world.cast.admin).post(
        "/api/v1/terms/",
        {
            "dataset": world.dataset.pk,
            "title": "Voices of the harbour",
            "permitted_uses": ["training"],
            "duration_days": 45,
            "flat_fee_cents": over_limit_cents,
        },
        format="json",
    )
    assert api.status_code == 400
    api_message = api.json()["errors"]["flat_fee_cents"][0]
    assert api_message == licensing.PRICE_LIMIT_MESSAGE
    assert api_message in _text(form)
    assert not LeaseTerms.objects.filter(title="Voices of the harbour").exists()


def test_both_accept_a_price_exactly_at_the_limit(admin_client, as_user, world):
    at_limit = licensing.PRICE_MAX_CENTS
    admin_client.post(reverse("operations-terms"), _terms_form(world, flat_fee=f"{at_limit // 100}"))
    api = as_user(world.cast.admin).post(
        "/api/v1/terms/",
        {
            "dataset": world.dataset.pk,
            "title": "By API",
            "permitted_uses": ["training"],
            "duration_days": 1,
            "price_per_download_cents": at_limit,
        },
        format="json",
    )
    assert api.status_code == 201
    assert LeaseTerms.objects.get(title="Voices of the harbour").flat_fee_cents == at_limit


def test_terms_create_itself_refuses_a_price_over_the_limit(world):
    with pytest.raises(Invalid) as refused:
        licensing.terms_create(
            actor=world.cast.admin,
            dataset=world.dataset,
            title="Too dear",
            permitted_uses=["training"],
            duration_days=30,
            price_per_generated_second_cents=licensing.PRICE_MAX_CENTS + 1,
        )
    assert refused.value.code == "price_too_high" and refused.value.detail == licensing.PRICE_LIMIT_MESSAGE
    assert not LeaseTerms.objects.filter(title="Too dear").exists()
