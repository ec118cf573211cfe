"""The demo trust tells one coherent story: whatever a date says happened first did happen
first. Checked over the seeded rows, once per module (the seed is the expensive part)."""

from unittest import mock

import pytest
from django.core.management import call_command
from django.db.models import Max, Min
from django.utils import timezone

from licensing.models import Lease, LeaseToken, UsageEvent
from payouts.models import Period, RateSetting
from tests.conftest import restore_consent_texts
from trust import audit
from trust.models import Asset, AssetContributor, AuditEvent, Consent, DatasetVersion, Member
from trust.selectors import licensable_assets
from trust.storage import get_object_store

# Every key the seed wrote bytes to, in order, and the store it wrote them to.
WRITTEN_KEYS: list[str] = []
SEED_STORES: list = []


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    store_class = type(get_object_store())
    real_put = store_class.put_bytes

    def recording_put(store, key, data, **kwargs):
        WRITTEN_KEYS.append(key)
        SEED_STORES.append(store)
        return real_put(store, key, data, **kwargs)

    with django_db_blocker.unblock():
        # Whatever ran before in this process may have flushed the migrated consent texts.
        restore_consent_texts()
        try:
            with mock.patch.object(store_class, "put_bytes", recording_put):
                call_command("seed_demo", any_database=True, verbosity=0)
            yield
        finally:
            # Committed rows: gone for the tests after this module, even if the seed failed.
            call_command("flush", interactive=False, verbosity=0)


pytestmark = pytest.mark.usefixtures("demo")


@pytest.fixture(autouse=True)
def _db(db):
    """Each test reads the module's seeded rows (in a transaction rolled back after it)."""


def test_requests_come_before_decisions_and_approval_starts_the_lease():
    leases = list(Lease.objects.all())
    assert len(leases) == 2
    for lease in leases:
        if lease.decided_at is not None:
            assert lease.requested_at <= lease.decided_at
        if lease.status == Lease.Status.ACTIVE:
            assert lease.starts_at == lease.decided_at
    assert Lease.objects.filter(status=Lease.Status.REQUESTED).count() == 1


def test_every_consent_a_lease_relied_on_was_given_before_the_lease_started():
    for lease in Lease.objects.exclude(starts_at=None):
        members = AssetContributor.objects.filter(asset__in=lease.approval_assets.all()).values("member")
        relied_on = Consent.objects.filter(
            member__in=members, use__in=["capture", *lease.permitted_uses], state=Consent.State.GRANTED
        )
        assert relied_on.exists()
        assert relied_on.aggregate(last=Max("created_at"))["last"] <= lease.starts_at


def test_members_assets_consents_and_the_dataset_version_come_in_order():
    first_asset = Asset.objects.aggregate(first=Min("created_at"))["first"]
    assert Member.objects.aggregate(last=Max("created_at"))["last"] <= first_asset
    for member in Member.objects.select_related("user"):
        assert member.user.date_joined == member.created_at
        assert not member.consents.filter(created_at__lt=member.created_at).exists()
    version = DatasetVersion.objects.get()
    assert version.assets.aggregate(last=Max("verified_at"))["last"] <= version.created_at
    for lease in Lease.objects.all():
        assert lease.terms.created_at <= lease.requested_at
        if lease.version_id:
            assert lease.version.created_at <= lease.requested_at


def test_the_rates_each_closed_period_used_were_in_force_before_it_began():
    closed = Period.objects.filter(status=Period.Status.CLOSED)
    assert closed.count() == 3
    for period in closed:
        before = RateSetting.objects.filter(effective_at__lte=period.start)
        in_force = before.order_by("-effective_at").first()
        assert in_force is not None
        assert (in_force.admin_fee_bps, in_force.pension_bps) == (period.admin_fee_bps, period.pension_bps)
        assert period.end <= period.closing_started_at <= period.closed_at


def test_a_tokens_last_use_is_its_last_usage_and_its_usage_lies_in_its_lifetime():
    tokens = LeaseToken.objects.all()
    assert tokens.count() == 4
    for token in tokens:
        events = UsageEvent.objects.filter(token=token)
        span = events.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
        assert events.filter(kind=UsageEvent.Kind.DOWNLOAD).count() == 8
        assert token.last_used_at == span["last"]
        assert token.created_at <= span["first"] and span["last"] < token.expires_at
    for event in UsageEvent.objects.select_related("lease"):
        assert event.lease.starts_at <= event.occurred_at <= event.recorded_at


def test_usage_and_the_lease_fall_inside_periods_closed_after_they_ended():
    for event in UsageEvent.objects.all():
        period = Period.objects.get(start__lte=event.occurred_at, end__gt=event.occurred_at)
        assert period.created_at <= event.occurred_at
        if period.closed_at:
            assert event.recorded_at < period.closing_started_at


def test_one_period_has_ended_and_waits_to_be_closed_and_this_month_is_open():
    now = timezone.now()
    ended, running = Period.objects.filter(status=Period.Status.OPEN).order_by("start")
    assert ended.end <= now and UsageEvent.objects.filter(occurred_at__gte=ended.start).exists()
    assert running.start <= now < running.end
    assert Period.objects.filter(status=Period.Status.CLOSED, end__gt=ended.start).count() == 0


def test_audit_events_are_in_time_order_and_the_chain_verifies():
    times = list(AuditEvent.objects.order_by("seq").values_list("created_at", flat=True))
    assert len(times) > 50
    assert times == sorted(times)
    assert times[-1] <= timezone.now()
    results = list(audit.verify_chain())
    assert results and results[-1] == (len(times), None)


def test_the_seed_uploads_through_staging_keys_as_a_client_does():
    """The demo's bytes go to each asset's staging key and verification copies them to the
    final key, which nothing writes to directly."""
    assets = list(Asset.objects.all())
    assert sorted(WRITTEN_KEYS) == sorted(asset.staging_key for asset in assets)
    store = SEED_STORES[0]
    for asset in assets:
        assert asset.status == Asset.Status.AVAILABLE
        assert store.size(asset.object_key) == asset.size
        assert store.size(asset.staging_key) is None


def test_one_asset_waits_for_the_member_named_in_it_and_is_not_licensable():
    waiting = AssetContributor.objects.get(status=AssetContributor.Status.PENDING)
    assert (waiting.member.user.username, waiting.asset.created_by.username) == ("member", "sam")
    assert not waiting.asset.versions.exists()
    assert not licensable_assets(assets=Asset.objects.filter(pk=waiting.asset_id), uses=[], at=timezone.now())
