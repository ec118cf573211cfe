"""The member's withdraw page promises exactly the takedown notices the service then issues:
both ask `withdrawal_takedowns`."""

import re

import pytest
from django.urls import reverse

from licensing import selectors
from licensing import services as licensing
from licensing.models import Takedown
from trust import services as trust

pytestmark = pytest.mark.django_db


def _promised(page: str, lease_ids) -> dict:
    """lease id -> how many takedown notices the page's row for that lease promises."""
    promised = {}
    for lease_id in lease_ids:
        row = re.search(rf'<tr data-lease="{lease_id}">(.*?)</tr>', page, re.S).group(1)
        count = re.search(r"Yes</span> for (\d+) asset", row)
        promised[lease_id] = int(count.group(1)) if count else 0
    return promised


def test_the_withdraw_page_lists_exactly_the_takedowns_the_service_then_issues(client, world):
    cast = world.cast
    leases = [world.lease_a.pk, world.lease_b.pk]
    # Bob's capture goes first: the shared asset leaves both leases and each gets a notice.
    trust.consent_withdraw(actor=cast.bob.user, consent=cast.bob.consents.get(use="capture"))
    # Studio A deals with its notice; Studio B's stays open.
    notice_a = Takedown.objects.get(lease=world.lease_a, asset=world.bob_asset)
    licensing.takedown_acknowledge(actor=cast.carol, takedown=notice_a)
    licensing.takedown_attest_deletion(actor=cast.carol, takedown=notice_a, statement="Deleted.")

    grant = cast.alice.consents.get(use="training", asset__isnull=True)
    client.force_login(cast.alice.user)
    url = reverse("member-consent-withdraw", args=[grant.pk])
    promised = _promised(client.get(url).content.decode(), leases)
    preview = selectors.withdrawal_takedowns(grant)

    assert client.post(url).status_code == 302
    grant.refresh_from_db()
    issued: dict = {}
    for takedown in Takedown.objects.filter(withdrawal_id=grant.withdrawal.pk).order_by("asset_id"):
        issued.setdefault(takedown.lease_id, []).append(takedown.asset_id)

    # Only Alice's own asset was usable and stops being so; the shared one was already gone.
    assert issued == {lease: [world.alice_asset.pk] for lease in leases}
    assert preview == issued
    assert promised == {lease: len(issued.get(lease, [])) for lease in leases}


def test_withdrawing_a_grant_another_grant_still_covers_promises_and_issues_nothing(client, world):
    cast = world.cast
    specific = trust.consent_grant(
        actor=cast.alice.user, member=cast.alice, use="training", asset=world.alice_asset
    )
    client.force_login(cast.alice.user)
    url = reverse("member-consent-withdraw", args=[specific.pk])
    promised = _promised(client.get(url).content.decode(), [world.lease_a.pk, world.lease_b.pk])
    assert promised == {world.lease_a.pk: 0, world.lease_b.pk: 0}
    client.post(url)
    assert not Takedown.objects.exists()
