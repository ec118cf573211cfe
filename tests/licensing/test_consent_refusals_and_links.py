"""Against the shared world (an active lease holding Alice's assets): a refusal takes nothing
away from a lease, and a withdrawal reaches studios' download links within a minute
(issue 12, items 2 and 5)."""

from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import timezone

from licensing import services as licensing
from licensing.models import LeaseAsset, Takedown
from trust import services
from trust.models import AuditEvent
from trust.signals import consent_withdrawn, licensability_changed

pytestmark = pytest.mark.django_db


@pytest.fixture
def signals_sent():
    """Every licensing signal sent while the test runs, by name."""
    sent = []

    def withdrawn(**kwargs):
        sent.append("consent_withdrawn")

    def changed(**kwargs):
        sent.append("licensability_changed")

    consent_withdrawn.connect(withdrawn, weak=False)
    licensability_changed.connect(changed, weak=False)
    yield sent
    consent_withdrawn.disconnect(withdrawn)
    licensability_changed.disconnect(changed)


def refuse(member, use, asset=None):
    return services.consent_refuse(actor=member.user, member=member, use=use, asset=asset)


def test_a_refusal_is_recorded_sends_no_signal_and_issues_no_takedown(world, signals_sent):
    held_before = set(LeaseAsset.objects.values_list("lease_id", "asset_id"))
    refusal = refuse(world.cast.alice, "voice_synthesis")
    assert (refusal.state, refusal.supersedes_id, refusal.text.use) == ("refused", None, "voice_synthesis")
    assert signals_sent == []
    assert not Takedown.objects.exists()
    assert set(LeaseAsset.objects.values_list("lease_id", "asset_id")) == held_before
    assert AuditEvent.objects.filter(action="consent.refused").count() == 1


def test_a_download_link_lives_at_most_60_seconds_by_default(world):
    from django.conf import settings as django_settings

    assert django_settings.DOWNLOAD_URL_SECONDS == 60
    url = licensing.gateway_download(
        token=world.token_a, lease_id=world.lease_a.pk, asset_id=world.alice_asset.pk
    )
    expires = int(parse_qs(urlparse(url).query)["expires"][0])
    assert expires <= timezone.now().timestamp() + 60


def test_the_withdrawal_page_states_the_bound_from_the_setting(world, client, settings):
    settings.DOWNLOAD_URL_SECONDS = 45
    capture = world.cast.alice.consents.get(use="capture")
    client.force_login(world.cast.alice.user)
    html = client.get(reverse("member-consent-withdraw", args=[capture.pk])).content.decode()
    assert "download links stop working within 45 seconds" in html
