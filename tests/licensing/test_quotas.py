"""Quotas by consent category: a member's capped grant and the terms' caps per use. Usage up to a
cap is accepted, the first event over it refuses the whole report (nothing written), and the
gateway refuses an asset whose caps are used up for everything the lease may do with it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.models import Lease, UsageEvent, UsageQuota
from tests.conftest import bearer_client
from trust import services as trust

pytestmark = pytest.mark.django_db
# Runs on the embedded default too (SQLite), unless it reports usage after a withdrawal, or counts
# the gateway's PostgreSQL statements.
embedded = pytest.mark.embedded


def _usage(world, *events, secret=None, lease=None):
    lease = lease or world.lease_a
    return bearer_client(secret or world.secret_a).post(
        f"/api/v1/leases/{lease.pk}/usage/", {"events": list(events)}, format="json"
    )


def _run(key, asset=None, quantity=1, at=None):
    event = {
        "event_key": key,
        "kind": "training_run",
        "quantity": quantity,
        "occurred_at": (at or timezone.now()).isoformat(),
    }
    if asset is not None:
        event["asset"] = str(asset.pk)
    return event


def _cap_training(member, quantity, per="lease", asset=None):
    """A capped training grant: on one asset beside the member's uncapped grant for all assets
    (which that asset's cap then limits), or, with no asset, in place of that grant."""
    if asset is None:
        grant = member.consents.get(use="training", state="granted", asset=None, withdrawal__isnull=True)
        trust.consent_withdraw(actor=member.user, consent=grant)
    return trust.consent_grant(
        actor=member.user, member=member, use="training", asset=asset, cap_quantity=quantity, cap_per=per
    )


def _cap_bob(world, quantity, per="lease"):
    return _cap_training(world.cast.bob, quantity, per, asset=world.bob_asset)


@embedded
def test_usage_up_to_a_members_cap_is_accepted_and_the_first_event_over_it_refused(world):
    _cap_bob(world, 5)
    assert _usage(world, _run("a", world.bob_asset, 3), _run("b", world.bob_asset, 2)).status_code == 202

    refused = _usage(world, _run("alice", world.alice_asset, 9), _run("c", world.bob_asset, 1))
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "quota_exceeded"
    assert "events[1]" in body["detail"] and "5 training runs per lease" in body["detail"]
    assert "0 left" in body["detail"]
    # No member is named to the studio.
    assert "bob" not in body["detail"].lower() and world.cast.bob.member_number not in body["detail"]
    # The whole report is refused: Alice's uncapped run was not written either.
    assert UsageEvent.objects.filter(lease=world.lease_a).count() == 2


@embedded
def test_the_refusal_names_the_first_event_that_goes_over_and_what_is_left(world):
    _cap_bob(world, 5)
    refused = _usage(
        world, _run("a", world.bob_asset, 2), _run("b", world.bob_asset, 2), _run("c", world.bob_asset, 2)
    )
    assert refused.status_code == 409
    assert "events[2]" in refused.json()["detail"] and "5 left" in refused.json()["detail"]
    assert not UsageEvent.objects.filter(lease=world.lease_a).exists()
    assert not UsageQuota.objects.exists()


@embedded
def test_a_per_lease_cap_counts_each_lease_apart(world):
    _cap_bob(world, 2)
    assert _usage(world, _run("a", world.bob_asset, 2)).status_code == 202
    assert (
        _usage(world, _run("a", world.bob_asset, 2), secret=world.secret_b, lease=world.lease_b).status_code
        == 202
    )
    assert _usage(world, _run("b", world.bob_asset, 1)).status_code == 409


@embedded
def test_a_per_year_cap_counts_every_lease_in_the_year(world):
    _cap_bob(world, 3, per="year")
    assert _usage(world, _run("a", world.bob_asset, 2)).status_code == 202
    refused = _usage(world, _run("a", world.bob_asset, 2), secret=world.secret_b, lease=world.lease_b)
    assert refused.status_code == 409
    assert (
        f"per year ({timezone.now().year})" in refused.json()["detail"]
        and "1 left" in refused.json()["detail"]
    )
    assert (
        _usage(world, _run("b", world.bob_asset, 1), secret=world.secret_b, lease=world.lease_b).status_code
        == 202
    )


@embedded
def test_a_cap_on_one_asset_leaves_the_members_other_assets_alone(world):
    alice = world.cast.alice
    _cap_training(alice, 1, asset=world.bob_asset)
    assert _usage(world, _run("mine", world.alice_asset, 50)).status_code == 202
    assert _usage(world, _run("shared", world.bob_asset, 1)).status_code == 202
    assert _usage(world, _run("shared-2", world.bob_asset, 1)).json()["code"] == "quota_exceeded"


@embedded
def test_a_training_run_naming_no_asset_counts_against_every_contributors_cap(world):
    _cap_bob(world, 4)
    assert _usage(world, _run("whole-1", quantity=4)).status_code == 202
    refused = _usage(world, _run("whole-2"))
    assert refused.status_code == 409 and "a contributor of this lease" in refused.json()["detail"]


@embedded
def test_a_repeated_event_key_is_counted_once(world):
    _cap_bob(world, 3)
    assert _usage(world, _run("a", world.bob_asset, 2)).status_code == 202
    again = _usage(world, _run("a", world.bob_asset, 2), _run("b", world.bob_asset, 1))
    assert again.status_code == 202 and again.json() == {"accepted": 1, "duplicates": 1}
    assert UsageQuota.objects.get(member=world.cast.bob).used == 3


@embedded
def test_the_terms_cap_per_use_holds_for_the_whole_lease(world):
    Lease.objects.filter(pk=world.lease_a.pk).update(use_caps={"training": 4})
    assert _usage(world, _run("a", world.alice_asset, 3), _run("b", quantity=1)).status_code == 202
    refused = _usage(world, _run("c", world.bob_asset, 1))
    assert refused.status_code == 409
    assert "this lease's terms cap training at 4 training runs; 0 left" in refused.json()["detail"]


@embedded
def test_the_smallest_cap_binds(world):
    Lease.objects.filter(pk=world.lease_a.pk).update(use_caps={"training": 10})
    _cap_bob(world, 2)
    refused = _usage(world, _run("a", world.bob_asset, 3))
    assert refused.status_code == 409 and "2 training runs per lease" in refused.json()["detail"]


def test_a_new_grant_with_a_higher_cap_continues_the_count(world):
    bob = world.cast.bob
    _cap_training(bob, 2)
    assert _usage(world, _run("a", world.bob_asset, 2)).status_code == 202
    assert _usage(world, _run("b", world.bob_asset, 1)).status_code == 409
    grant = bob.consents.get(use="training", state="granted", withdrawal__isnull=True)
    trust.consent_withdraw(actor=bob.user, consent=grant)
    trust.consent_grant(actor=bob.user, member=bob, use="training", cap_quantity=3, cap_per="lease")
    assert _usage(world, _run("b", world.bob_asset, 1)).status_code == 202
    assert _usage(world, _run("c", world.bob_asset, 1)).status_code == 409


@embedded
def test_the_gateway_refuses_an_asset_whose_caps_are_used_up_for_everything_the_lease_may_do(world):
    capped = _cap_bob(world, 1)
    client = bearer_client(world.secret_a)
    url = f"/api/v1/leases/{world.lease_a.pk}/assets/{{}}/download/"
    assert client.get(url.format(world.bob_asset.pk)).status_code == 302
    assert _usage(world, _run("a", world.bob_asset, 1)).status_code == 202
    refused = client.get(url.format(world.bob_asset.pk))
    assert refused.status_code == 409 and refused.json()["code"] == "quota_exceeded"
    # Alice's own asset has no capped contributor: still served.
    assert client.get(url.format(world.alice_asset.pk)).status_code == 302
    # The capped grant withdrawn, Bob's uncapped grant for all his assets covers it: served again.
    trust.consent_withdraw(actor=world.cast.bob.user, consent=capped)
    assert client.get(url.format(world.bob_asset.pk)).status_code == 302


def test_a_download_on_a_lease_with_a_quota_costs_one_statement_more(world, django_assert_max_num_queries):
    _cap_training(world.cast.bob, 5)
    world.lease_a.refresh_from_db()
    assert world.lease_a.quota_applies
    client = bearer_client(world.secret_a)
    assert (
        client.get(f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/").status_code
        == 302
    )
    with django_assert_max_num_queries(3):
        assert (
            client.get(f"/api/v1/leases/{world.lease_a.pk}/assets/{world.bob_asset.pk}/download/").status_code
            == 302
        )


@embedded
def test_a_lease_without_quotas_asks_none(world, django_assert_max_num_queries):
    assert not world.lease_a.quota_applies
    # 15 on PostgreSQL: the event keys are copied in under a savepoint (a report sent again
    # makes the copy fail, and its keys are taken with ON CONFLICT instead), then the events.
    with django_assert_max_num_queries(15) as without_quota:
        assert _usage(world, _run("a", world.bob_asset, 2)).status_code == 202
    assert not any("usage_quota" in query["sql"] for query in without_quota.captured_queries)


@embedded
def test_usage_before_the_lease_year_turns_counts_in_its_own_year(world):
    """A per-year cap's year is the usage's (UTC): an event dated last year takes last year's."""
    _cap_bob(world, 1, per="year")
    lease = world.lease_a
    Lease.objects.filter(pk=lease.pk).update(starts_at=lease.starts_at - timedelta(days=400))
    last_year = timezone.now() - timedelta(days=366)
    assert (
        _usage(
            world, _run("old", world.bob_asset, 1, at=last_year), _run("new", world.bob_asset, 1)
        ).status_code
        == 202
    )
    years = sorted(UsageQuota.objects.values_list("year", flat=True))
    assert years == [last_year.year, timezone.now().year]


# The consent API carries the cap.


@embedded
def test_a_member_grants_a_use_with_a_cap_through_the_api(cast, as_user):
    response = as_user(cast.alice).post(
        "/api/v1/consents/",
        {"use": "replica_active", "decision": "grant", "cap": {"quantity": 600, "per": "lease"}},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["cap"] == {"quantity": 600, "per": "lease"}
    history = as_user(cast.alice).get("/api/v1/consents/").json()
    listed = [row for row in history["results"] if row["id"] == response.json()["id"]]
    assert listed[0]["cap"] == {"quantity": 600, "per": "lease"}


@embedded
@pytest.mark.parametrize(
    "body",
    [
        {"use": "capture", "cap": {"quantity": 5, "per": "lease"}},
        {"use": "training", "decision": "refuse", "cap": {"quantity": 5, "per": "lease"}},
        {"use": "training", "cap": {"quantity": 0, "per": "lease"}},
        {"use": "training", "cap": {"quantity": 5, "per": "month"}},
        {"use": "training", "cap": {"quantity": "many", "per": "year"}},
        {"use": "training", "cap": {"per": "year"}},
    ],
)
def test_a_bad_cap_is_refused_and_nothing_recorded(cast, as_user, body):
    before = cast.alice.consents.count()
    response = as_user(cast.alice).post("/api/v1/consents/", body, format="json")
    assert response.status_code in (400, 422)
    assert "cap" in str(response.json())
    assert cast.alice.consents.count() == before


@embedded
def test_a_cap_on_another_members_asset_is_refused(world, as_user):
    """Bob may not cap (or grant) a use of an asset he does not contribute to."""
    response = as_user(world.cast.bob).post(
        "/api/v1/consents/",
        {"use": "replica_active", "asset": str(world.alice_asset.pk), "cap": {"quantity": 5, "per": "year"}},
        format="json",
    )
    assert response.status_code == 404


@embedded
def test_terms_may_cap_a_permitted_use_only(world, as_user):
    body = {
        "dataset": world.dataset.pk,
        "title": "Capped",
        "permitted_uses": ["training"],
        "duration_days": 30,
        "use_caps": {"training": 40},
    }
    created = as_user(world.cast.admin).post("/api/v1/terms/", body, format="json")
    assert created.status_code == 201 and created.json()["use_caps"] == {"training": 40}
    refused = as_user(world.cast.admin).post(
        "/api/v1/terms/", {**body, "use_caps": {"voice_synthesis": 40}}, format="json"
    )
    assert refused.status_code in (400, 422) and "voice_synthesis" in str(refused.json())


@pytest.fixture
def capped_terms(world):
    """Terms offered in the catalogue that cap training at 40 runs per lease."""
    from licensing import services as licensing

    return licensing.terms_create(
        actor=world.cast.admin,
        dataset=world.dataset,
        title="Capped training",
        permitted_uses=["training"],
        duration_days=30,
        use_caps={"training": 40},
    )


@embedded
def test_a_lease_approved_under_capped_terms_carries_the_caps(world, capped_terms):
    from licensing import services as licensing

    lease = licensing.lease_approve(
        actor=world.cast.admin,
        lease=licensing.lease_request(actor=world.cast.carol, terms=capped_terms, purpose="capped"),
    )
    assert lease.use_caps == {"training": 40} and lease.quota_applies


# The pages: the studio's quota left, the member's use against their caps.


def _page_text(response) -> str:
    import re
    from html import unescape

    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@embedded
def test_the_studio_lease_page_shows_the_quota_left(world, client, django_assert_max_num_queries):
    Lease.objects.filter(pk=world.lease_a.pk).update(use_caps={"training": 10})
    _cap_bob(world, 5)
    assert _usage(world, _run("a", world.bob_asset, 3)).status_code == 202
    client.force_login(world.cast.carol)
    page = _page_text(client.get(f"/studio/leases/{world.lease_a.pk}/"))
    assert "Quotas left" in page
    assert "Training AI models The lease's terms the whole lease 10 training runs 3 7" in page
    assert f"A contributor's consent asset {world.bob_asset.pk} 5 training runs per lease 3 2" in page
    assert "Bob" not in page.split("Quotas left")[1].split("Lease tokens")[0]


@embedded
def test_the_studio_lease_page_says_when_no_quota_applies(world, client):
    client.force_login(world.cast.carol)
    assert "No quota applies to this lease" in _page_text(client.get(f"/studio/leases/{world.lease_a.pk}/"))


@embedded
def test_another_studio_cannot_see_a_leases_quotas(world, client):
    client.force_login(world.cast.dave)
    assert client.get(f"/studio/leases/{world.lease_a.pk}/").status_code == 404


def test_the_member_sees_use_against_their_caps(world, client):
    _cap_training(world.cast.bob, 5)
    assert _usage(world, _run("a", world.bob_asset, 3)).status_code == 202
    client.force_login(world.cast.bob.user)
    page = _page_text(client.get("/member/consent/"))
    assert "Use against my caps" in page
    assert f"All my assets 5 training runs per lease Lease {world.lease_a.pk} (" in page
    assert page.split(f"Lease {world.lease_a.pk} (")[1].split(")")[1].strip().startswith("3 2")


@embedded
def test_a_member_without_caps_is_told_how_to_set_one(world, client):
    client.force_login(world.cast.alice.user)
    assert "None of your grants in force has a cap" in _page_text(client.get("/member/consent/"))


@embedded
def test_a_capped_grants_receipt_carries_its_cap_and_verifies(world, as_user, anon):
    from trust import receipts

    grant = _cap_bob(world, 600, per="year")
    published = anon.get("/.well-known/guildtrust.json").json()["public_keys"]
    document = as_user(world.cast.bob).get(f"/api/v1/consents/{grant.pk}/receipt/").json()
    purpose = document["receipt"]["purposes"][0]
    assert purpose["cap"] == {"quantity": 600, "per": "year"}
    assert receipts.verify(document, published)
    raised = {
        **document,
        "receipt": {
            **document["receipt"],
            "purposes": [{**purpose, "cap": {"quantity": 6000, "per": "year"}}],
        },
    }
    assert not receipts.verify(raised, published)
    pdf = as_user(world.cast.bob).get(f"/api/v1/consents/{grant.pk}/receipt/?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


@embedded
def test_a_member_sees_only_their_own_caps(world, client):
    _cap_bob(world, 5)
    client.force_login(world.cast.alice.user)
    assert "None of your grants in force has a cap" in _page_text(client.get("/member/consent/"))


@embedded
def test_a_member_grants_with_a_cap_on_the_consent_page(world, client):
    bob = world.cast.bob
    client.force_login(bob.user)
    form = {
        "use": "replica_active",
        "cap_asset": str(world.bob_asset.pk),
        "cap_quantity": "600",
        "cap_per": "year",
    }
    page = client.post("/member/consent/", form, follow=True)
    assert "Granted with a cap: Digital replica: new lines or actions for “" in _page_text(page)
    grant = bob.consents.get(use="replica_active")
    assert (grant.asset_id, grant.cap_quantity, grant.cap_per, grant.channel) == (
        world.bob_asset.pk,
        600,
        "year",
        "web",
    )
    assert "600 generated seconds per year" in _page_text(page).split("Use against my caps")[1]


@embedded
def test_a_bad_cap_on_the_consent_page_records_nothing(world, client):
    bob = world.cast.bob
    client.force_login(bob.user)
    before = bob.consents.count()
    page = client.post(
        "/member/consent/", {"use": "training", "cap_quantity": "0", "cap_per": "lease"}, follow=True
    )
    assert "Nothing was recorded. At most:" in _page_text(page)
    assert bob.consents.count() == before
    # Another member's asset is not one of the choices.
    page = client.post(
        "/member/consent/",
        {
            "use": "replica_active",
            "cap_asset": str(world.alice_asset.pk),
            "cap_quantity": "5",
            "cap_per": "lease",
        },
        follow=True,
    )
    assert "Nothing was recorded. For:" in _page_text(page) and bob.consents.count() == before


@embedded
def test_a_per_year_cap_counts_in_the_utc_year():
    from datetime import UTC, datetime, timedelta, timezone

    from licensing.quotas import utc_year

    new_years_eve_in_new_york = datetime(2026, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert utc_year(new_years_eve_in_new_york) == 2027
    assert utc_year(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == 2026


@pytest.fixture
def generation_lease(world):
    """Make a lease of the world's dataset for the uses given, Alice granting them for all her
    assets and Bob each on his asset with the cap given (None: uncapped): (lease, token secret)."""
    from licensing import services as licensing
    from licensing import tokens as lease_tokens

    def make(bobs_caps: dict[str, tuple[int, str] | None], uses: list[str]):
        bob = world.cast.bob
        for use, cap in bobs_caps.items():
            quantity, per = cap or (None, "")
            trust.consent_grant(
                actor=bob.user, member=bob, use=use, asset=world.bob_asset, cap_quantity=quantity, cap_per=per
            )
        for use in uses:
            if use != "training":
                trust.consent_grant(actor=world.cast.alice.user, member=world.cast.alice, use=use)
        terms = licensing.terms_create(
            actor=world.cast.admin,
            dataset=world.dataset,
            title="Replica",
            permitted_uses=uses,
            duration_days=30,
        )
        lease = licensing.lease_approve(
            actor=world.cast.admin,
            lease=licensing.lease_request(actor=world.cast.carol, terms=terms, purpose="r"),
        )
        _, secret = lease_tokens.lease_token_mint(actor=world.cast.carol, lease=lease, name="gen")
        return lease, secret

    return make


def _seconds(key, asset, quantity):
    return {**_run(key, asset, quantity), "kind": "generated_second"}


@embedded
def test_generated_seconds_count_against_a_replica_cap(world, generation_lease):
    lease, secret = generation_lease({"replica_active": (600, "lease")}, ["replica_active", "training"])
    assert lease.quota_applies
    ok = _usage(
        world,
        _seconds("s1", world.bob_asset, 600),
        _run("t1", world.bob_asset, 50),
        secret=secret,
        lease=lease,
    )
    assert ok.status_code == 202
    refused = _usage(world, _seconds("s2", world.bob_asset, 1), secret=secret, lease=lease)
    assert refused.status_code == 409
    assert "caps replica_active at 600 generated seconds per lease; 0 left" in refused.json()["detail"]
    # Training is not capped: the asset may still be downloaded for it.
    client = bearer_client(secret)
    assert client.get(f"/api/v1/leases/{lease.pk}/assets/{world.bob_asset.pk}/download/").status_code == 302


@embedded
def test_a_generated_second_counts_against_every_generation_use_the_lease_permits(world, generation_lease):
    """The event does not say which generation use it was made under: each capped one holds."""
    lease, secret = generation_lease(
        {"replica_active": None, "voice_synthesis": (10, "year")}, ["replica_active", "voice_synthesis"]
    )
    assert _usage(world, _seconds("s1", world.bob_asset, 10), secret=secret, lease=lease).status_code == 202
    refused = _usage(world, _seconds("s2", world.bob_asset, 1), secret=secret, lease=lease)
    assert (
        refused.status_code == 409
        and "caps voice_synthesis at 10 generated seconds per year" in refused.json()["detail"]
    )
    # Nothing is left for anything the lease may do with the asset: the gateway refuses it.
    download = bearer_client(secret).get(f"/api/v1/leases/{lease.pk}/assets/{world.bob_asset.pk}/download/")
    assert download.status_code == 409 and download.json()["code"] == "quota_exceeded"


@embedded
def test_the_catalogue_shows_the_terms_quotas(world, client, capped_terms):
    client.force_login(world.cast.carol)
    page = _page_text(client.get("/studio/"))
    assert "Quotas per lease Training AI models: at most 40" in page


def test_an_administrator_sets_the_terms_quotas_on_the_terms_page(world, client):
    from licensing.models import LeaseTerms

    client.force_login(world.cast.admin)
    form = {
        "dataset": world.dataset.pk,
        "title": "Capped voices",
        "permitted_uses": ["training", "voice_synthesis"],
        "duration_days": "45",
        "flat_fee": "0",
        "price_per_download": "0",
        "price_per_training_run": "0",
        "price_per_generated_second": "0",
        "use_caps": "training=40, voice_synthesis = 600",
    }
    client.post("/operations/terms/", form, follow=True)
    assert LeaseTerms.objects.get(title="Capped voices").use_caps == {"training": 40, "voice_synthesis": 600}
    # A use the terms do not permit, or a quantity that is not whole, creates nothing.
    for caps in ("replica_active=5", "training=lots"):
        page = client.post(
            "/operations/terms/", {**form, "title": f"Bad {caps}", "use_caps": caps}, follow=True
        )
        assert not LeaseTerms.objects.filter(title=f"Bad {caps}").exists(), caps
        assert "replica_active" in _page_text(page) or "whole number" in _page_text(page)
