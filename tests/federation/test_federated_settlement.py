"""Metering and settlement of one federated lease over two live trusts: this process is
`sag-aftra` (the studio's home, served by the live server), `equity-uk` a whole trust in its own
process. Downloads metered at equity-uk's gateway, generated seconds reported at home and
forwarded, the home close splitting the flat fee and training runs, and both trusts' settlement
statements agreeing to the cent with figures worked out by hand; then a period in which
equity-uk lost an event, disagreed at both.

By hand: home terms flat fee 1000, training runs at 100; equity-uk's terms 7 a download and 3 a
generated second; 2 assets licensable at home, 3 at equity-uk.
  period 1: 3 training runs, 40 + 5 generated seconds and 2 downloads at equity-uk
    flat fee 1000 over 2:3 -> home 400, equity-uk 600; training 300 -> 120 and 180
    equity-uk's part: 2 x 7 + 45 x 3 + 600 + 180 = 14 + 135 + 780 = 929
    home part: 520; the studio's receivable: 520 + 929 = 1449 = 1000 + 300 + 14 + 135
  period 2: 10 generated seconds forwarded, lost at equity-uk: home says 30, equity-uk 0."""

import time

import pytest
import requests
from django.utils import timezone

from federation.models import Peer
from licensing import services
from licensing.models import ForwardedUsage, LeasePart
from payouts import ledger
from payouts import services as payouts
from payouts.models import LeaseRevenue, Settlement
from trust import keys

pytestmark = pytest.mark.django_db(transaction=True)

EQUITY_SEED = """
from django.contrib.auth import get_user_model
from federation.models import Peer
from licensing import services as licensing
from tests import factories
from trust import services as trust

admin = get_user_model().objects.get(username="admin")
members = [
    factories.MemberFactory(user__username=f"equity-{n}", member_number=f"EQ-{n:04d}", display_name=f"E {n}")
    for n in range(3)
]
assets = []
for n, member in enumerate(members):
    factories.grant_all(member, "training", "crowd_generation")
    assets.append(factories.make_asset(admin=admin, contributors=[(member, "1")], data=b"equity scan %d" % n))
dataset = trust.dataset_create(actor=admin, slug="equity-crowd", title="Equity crowd")
trust.dataset_add_assets(actor=admin, dataset=dataset, asset_ids=[a.pk for a in assets])
trust.dataset_freeze(actor=admin, dataset=dataset)
terms = licensing.terms_create(
    actor=admin, dataset=dataset, title="Equity crowd, training and generation",
    permitted_uses=["training", "crowd_generation"], duration_days=30, flat_fee_cents=50000,
    price_per_download_cents=7, price_per_training_run_cents=900, price_per_generated_second_cents=3,
)
licensing.terms_share(actor=admin, terms=terms, peers=[Peer.objects.get(slug="sag-aftra")])
print(terms.pk)
"""


@pytest.fixture
def two_trusts(settings, live_server, committed_world, as_user, equity_uk, equity_admin):
    settings.TRUST_SLUG = "sag-aftra"
    settings.TRUST_CURRENCY = "GBP"
    settings.PUBLIC_BASE_URL = live_server.url
    home_admin = as_user(committed_world.cast.admin)
    published = requests.get(f"{equity_uk.url}/.well-known/guildtrust.json", timeout=60).json()
    fingerprint = keys.fingerprint_of(published["public_keys"][0]["key"])
    added = home_admin.post(
        "/api/v1/federation/peers/", {"url": equity_uk.url, "fingerprint": fingerprint}, format="json"
    )
    assert added.status_code == 201, added.content
    theirs = equity_admin.post(
        "/api/v1/federation/peers/", {"url": live_server.url, "fingerprint": keys.current_key().fingerprint}
    )
    assert theirs.status_code == 201 and theirs.json()["state"] == "live", theirs.text
    equity_terms = int(equity_uk.manage("shell", "-c", EQUITY_SEED).strip().splitlines()[-1])
    assert services.peer_offers_refresh(peer=Peer.objects.get(slug="equity-uk")) == 1
    home_terms = services.terms_create(
        actor=committed_world.cast.admin,
        dataset=committed_world.dataset,
        title="SAG-AFTRA crowd, training",
        permitted_uses=["training"],
        duration_days=30,
        flat_fee_cents=1000,
        price_per_training_run_cents=100,
        currency="GBP",
    )
    return {"home_terms": home_terms.pk, "equity_terms": equity_terms, "home_admin": home_admin}


def _close(admin, start, end):
    period = payouts.period_create(actor=admin, start=start, end=end)
    return payouts.period_close(period_id=period.pk)


def _figures(row: dict) -> tuple:
    ours = row["ours"]
    return (
        ours["downloads_cents"],
        ours["generated_cents"],
        ours["flat_fee_share_cents"],
        ours["training_share_cents"],
        ours["total_cents"],
    )


def test_both_trusts_settle_a_federated_lease_to_the_cent_and_both_see_a_lost_event(
    two_trusts, committed_world, as_user, equity_uk, equity_admin
):
    world, home_admin = committed_world, two_trusts["home_admin"]
    started = timezone.now()
    studio = as_user(world.cast.carol)
    requested = studio.post(
        "/api/v1/leases/",
        {
            "purpose": "Crowd scene, settled",
            "parts": [
                {"trust": "sag-aftra", "terms": two_trusts["home_terms"]},
                {"trust": "equity-uk", "terms": two_trusts["equity_terms"]},
            ],
        },
        format="json",
    )
    assert requested.status_code == 201, requested.content
    lease_id = requested.json()["id"]
    theirs = next(
        row
        for row in equity_admin.get("/api/v1/leases/").json()["results"]
        if row["purpose"] == "Crowd scene, settled"
    )
    assert equity_admin.post(f"/api/v1/leases/{theirs['id']}/approve/").status_code == 200
    assert home_admin.post(f"/api/v1/leases/{lease_id}/approve/").json()["status"] == "active"
    part = LeasePart.objects.get(lease_id=lease_id, peer__slug="equity-uk")
    assert (
        part.licensable_at_approval,
        part.price_per_download_cents,
        part.price_per_generated_second_cents,
    ) == (
        3,
        7,
        3,
    )
    # equity-uk's part charges no flat fee or training runs of its own: they are the lease's.
    their_lease = equity_admin.get(f"/api/v1/leases/{theirs['id']}/").json()
    assert their_lease["status"] == "active"

    token = studio.post(f"/api/v1/leases/{lease_id}/tokens/", {"name": "farm"}, format="json").json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    manifest = requests.get(
        f"{world_url(two_trusts)}/api/v1/leases/{lease_id}/manifest/", headers=bearer, timeout=60
    )
    equity_assets = [a for a in manifest.json()["assets"] if a["trust"] == "equity-uk"]
    assert len(equity_assets) == 3
    for asset in equity_assets[:2]:
        got = requests.get(asset["download_url"], headers=bearer, timeout=60, allow_redirects=False)
        assert got.status_code == 302, got.text

    now = timezone.now()
    generated = {"kind": "generated_second", "trust": "equity-uk", "asset": equity_assets[0]["id"]}
    report = requests.post(
        f"{world_url(two_trusts)}/api/v1/leases/{lease_id}/usage/",
        json={
            "events": [
                {"event_key": "t-1", "kind": "training_run", "quantity": 3, "occurred_at": now.isoformat()},
                {**generated, "event_key": "g-1", "quantity": 40, "occurred_at": now.isoformat()},
                {**generated, "event_key": "g-2", "quantity": 5, "occurred_at": now.isoformat()},
            ]
        },
        headers=bearer,
        timeout=60,
    )
    assert report.status_code == 202 and report.json() == {"accepted": 3, "duplicates": 0}, report.text
    # Forwarded after commit (tasks run in-process here): recorded at equity-uk as its usage.
    assert _until(lambda: ForwardedUsage.objects.filter(forwarded_at__isnull=False).count() == 2)

    # Period 1 closes at home: home members get the home part, then both trusts settle.
    time.sleep(0.01)
    first = _close(world.cast.admin, started, timezone.now())
    assert first.status == "closed", first.failure_reason
    assert LeaseRevenue.objects.get(period=first, lease_id=lease_id).revenue_cents == 520
    assert _until(lambda: Settlement.objects.filter(state="agreed").exists()), list(
        Settlement.objects.values()
    )
    window = f"{first.start:%Y-%m-%dT%H:%M:%S.%fZ}/{first.end:%Y-%m-%dT%H:%M:%S.%fZ}"
    (ours,) = home_admin.get("/api/v1/federation/settlements/", {"period": window}).json()["settlements"]
    assert (ours["role"], ours["state"], ours["direction"]) == ("home", "agreed", "owed to equity-uk")
    assert _figures(ours) == (14, 135, 600, 180, 929)
    (at_equity,) = equity_admin.get(f"/api/v1/federation/settlements/?period={window}").json()["settlements"]
    assert (at_equity["role"], at_equity["state"], at_equity["direction"]) == (
        "part",
        "agreed",
        "owed by sag-aftra",
    )
    assert _figures(at_equity) == (14, 135, 600, 180, 929)
    # Ledgers: at home the studio owes the whole lease and this trust owes equity-uk its part.
    studio_id = LeaseRevenue.objects.get(period=first, lease_id=lease_id).lease.studio_id
    assert ledger.balance_of(f"studio:{studio_id}:receivable") == 1449
    assert ledger.balance_of("peer:equity-uk:payable") == -929 and ledger.trial_balance() == 0
    balances = equity_uk.manage(
        "shell",
        "-c",
        "from payouts import ledger; "
        "print(ledger.balance_of('peer:sag-aftra:receivable'), ledger.trial_balance())",
    )
    assert balances.strip().splitlines()[-1] == "929 0"

    # Period 2: an event forwarded and accepted, then lost at equity-uk.
    second_start = first.end
    later = timezone.now()
    lost = requests.post(
        f"{world_url(two_trusts)}/api/v1/leases/{lease_id}/usage/",
        json={
            "events": [{**generated, "event_key": "g-3", "quantity": 10, "occurred_at": later.isoformat()}]
        },
        headers=bearer,
        timeout=60,
    )
    assert lost.status_code == 202
    assert _until(lambda: ForwardedUsage.objects.filter(forwarded_at__isnull=False).count() == 3)
    equity_uk.manage(
        "shell",
        "-c",
        "from licensing.models import UsageEvent; UsageEvent.objects.filter(event_key='g-3').delete()",
    )
    time.sleep(0.01)
    second = _close(world.cast.admin, second_start, timezone.now())
    assert second.status == "closed", second.failure_reason
    assert _until(lambda: Settlement.objects.filter(state="disagreed").exists())
    window = f"{second.start:%Y-%m-%dT%H:%M:%S.%fZ}/{second.end:%Y-%m-%dT%H:%M:%S.%fZ}"
    (ours,) = home_admin.get("/api/v1/federation/settlements/", {"period": window}).json()["settlements"]
    (at_equity,) = equity_admin.get(f"/api/v1/federation/settlements/?period={window}").json()["settlements"]
    assert ours["state"] == at_equity["state"] == "disagreed"
    assert (_figures(ours), _figures(at_equity)) == ((0, 30, 0, 0, 30), (0, 0, 0, 0, 0))
    assert ours["disagreeing"] == at_equity["disagreeing"] == ["generated_cents", "total_cents"]


def world_url(two_trusts) -> str:
    from django.conf import settings

    return settings.PUBLIC_BASE_URL


def _until(check, *, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer or time.monotonic() >= deadline:
            return answer
        time.sleep(0.2)
