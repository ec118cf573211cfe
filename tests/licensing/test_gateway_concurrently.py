"""The gateway under parallel load, on committed rows each request's own connection can see: a
cap of N lets exactly N downloads through however many ask at once, and a consent granted by
two members at once (each the last the shared asset needed) leaves it licensable; two retries of
one invoice payment at once record it once."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from licensing.models import Lease, LeaseAsset, LeaseDownloadCount, UsageEvent
from payouts import services
from payouts.models import Invoice, InvoicePayment
from tests.conftest import bearer_client
from trust import services as trust

pytestmark = pytest.mark.django_db(transaction=True)


def _in_parallel(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results, lock = [], threading.Lock()

    def run():
        try:
            barrier.wait()
            outcome = work()
        except Exception as error:  # surfaced in the results
            outcome = error
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_cap_of_n_lets_exactly_n_of_fifty_parallel_downloads_through(committed_world, settings):
    settings.PULL_WINDOW_SECONDS = 0  # every download of the same asset is billed
    world = committed_world
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=7)
    url = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/"
    statuses = _in_parallel(50, lambda: bearer_client(world.secret_a).get(url).status_code)
    assert Counter(statuses) == {302: 7, 409: 43}
    downloads = UsageEvent.objects.filter(lease=world.lease_a, kind=UsageEvent.Kind.DOWNLOAD)
    assert downloads.count() == 7


def test_the_first_downloads_of_a_capped_lease_racing_each_other_are_never_refused_below_the_cap(
    committed_world, settings
):
    # The first capped download makes the lease's counter; one that found no counter a moment
    # before another committed it must take from it, not read "no row" as "cap reached".
    settings.PULL_WINDOW_SECONDS = 0
    world = committed_world
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=1000)
    url = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/"
    statuses = _in_parallel(40, lambda: bearer_client(world.secret_a).get(url).status_code)
    assert Counter(statuses) == {302: 40}
    assert LeaseDownloadCount.objects.get(lease_id=world.lease_a.pk).used == 40


def test_a_counter_committed_between_finding_none_and_looking_again_is_taken_from(
    committed_world, monkeypatch
):
    # The interleaving above, made certain: this download's UPDATE finds no counter, then another
    # first download commits one (with 3 taken) just before this one looks for it.
    world = committed_world
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=5)

    class CommittedMeanwhile:
        _meta = LeaseDownloadCount._meta

        class objects:
            @staticmethod
            def filter(lease_id):
                LeaseDownloadCount.objects.create(lease_id=lease_id, used=3)
                return LeaseDownloadCount.objects.filter(lease_id=lease_id)

    monkeypatch.setattr("licensing.services.LeaseDownloadCount", CommittedMeanwhile)
    url = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/"
    assert bearer_client(world.secret_a).get(url).status_code == 302
    assert LeaseDownloadCount.objects.get(lease_id=world.lease_a.pk).used == 4


def test_fifty_parallel_downloads_of_one_asset_with_one_token_bill_one_and_take_one_from_the_cap(
    committed_world,
):
    world = committed_world
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=7)
    url = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/"
    # The lease's first capped download creates the counter: take it before the race.
    assert (
        bearer_client(world.secret_a)
        .get(f"/api/v1/leases/{world.lease_a.pk}/assets/{world.bob_asset.pk}/download/")
        .status_code
        == 302
    )
    statuses = _in_parallel(50, lambda: bearer_client(world.secret_a).get(url).status_code)
    assert Counter(statuses) == {302: 50}
    downloads = UsageEvent.objects.filter(lease=world.lease_a, kind=UsageEvent.Kind.DOWNLOAD)
    assert downloads.filter(asset=world.alice_asset).count() == 1
    assert LeaseDownloadCount.objects.get(lease_id=world.lease_a.pk).used == 2


def test_two_members_granting_at_once_make_their_shared_asset_licensable(committed_world):
    world = committed_world
    alice, bob = world.cast.alice, world.cast.bob
    for member in (alice, bob):
        trust.consent_withdraw(actor=member.user, consent=member.consents.get(use="training"))
    assert not LeaseAsset.objects.filter(asset=world.bob_asset).exists()

    members = iter([alice, bob])
    lock = threading.Lock()

    def grant():
        with lock:
            member = next(members)
        return trust.consent_grant(actor=member.user, member=member, use="training")

    assert not [r for r in _in_parallel(2, grant) if isinstance(r, Exception)]
    held = set(LeaseAsset.objects.filter(asset=world.bob_asset).values_list("lease_id", flat=True))
    assert held == {world.lease_a.pk, world.lease_b.pk}


def test_two_retries_of_one_payment_at_once_record_it_once(committed_world, as_user):
    world = committed_world
    licensing_report = bearer_client(world.secret_a).post(
        f"/api/v1/leases/{world.lease_a.pk}/usage/",
        {
            "events": [
                {"event_key": "r", "kind": "training_run", "quantity": 2, "occurred_at": timezone.now()}
            ]
        },
        format="json",
    )
    assert licensing_report.status_code == 202
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    services.period_close(period_id=period.pk)
    invoice = Invoice.objects.get(period=period, studio=world.lease_a.studio)
    body = {"amount_cents": 300, "paid_at": timezone.localdate().isoformat(), "reference": "WIRE"}

    clients = iter([as_user(world.cast.admin), as_user(world.cast.admin)])
    lock = threading.Lock()

    def pay():
        with lock:
            client = next(clients)
        return client.post(
            f"/api/v1/invoices/{invoice.pk}/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="once"
        ).status_code

    assert Counter(_in_parallel(2, pay)) == {201: 1, 200: 1}
    assert list(InvoicePayment.objects.filter(invoice=invoice).values_list("amount_cents", flat=True)) == [
        300
    ]
