"""The precomputed licensable set (`LeaseAsset`) answers exactly what the trust's one rule
(`trust.selectors.licensable_assets`) answers, after any sequence of consent grants and
withdrawals, asset verifications, dataset freezes and lease approvals; and the gateway and the
manifest act on it at once."""

import contextlib
import os
import uuid

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from licensing import services as licensing
from licensing.models import Lease, LeaseAsset
from licensing.selectors import lease_licensable_assets
from tests.conftest import bearer_client, json_body
from tests.factories import MemberFactory, make_asset
from trust import services as trust
from trust.consent import LICENSABLE_USE_VALUES, Use
from trust.errors import DomainError
from trust.models import Consent

pytestmark = pytest.mark.django_db

USES = [use.value for use in Use]


def _table(lease) -> set:
    return set(LeaseAsset.objects.filter(lease=lease).values_list("asset_id", flat=True))


def _rule(lease) -> set:
    return set(lease_licensable_assets(lease).values_list("pk", flat=True))


def assert_table_follows_the_rule():
    for lease in Lease.objects.active():
        assert _table(lease) == _rule(lease), f"lease {lease.pk} ({lease.permitted_uses})"


class ConsentAndLeases(RuleBasedStateMachine):
    """Two members, three assets (one each and one shared), a dataset whose versions grow, and
    leases approved under terms for various uses, while consent comes and goes."""

    def __init__(self, cast):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.admin, self.studio_staff = cast.admin, cast.carol
        tag = uuid.uuid4().hex[:8]
        self.members = [
            MemberFactory(member_number=f"SM-{tag}-{n}", user__username=f"sm-{tag}-{n}") for n in (1, 2)
        ]
        a, b = self.members
        self.assets = [
            make_asset(admin=self.admin, contributors=[(a, "1")], data=b"a"),
            make_asset(admin=self.admin, contributors=[(b, "1")], data=b"bb"),
            make_asset(admin=self.admin, contributors=[(a, "0.5"), (b, "0.5")], data=b"ccc"),
        ]
        self.dataset = trust.dataset_create(actor=self.admin, slug=f"sm-{tag}", title="state machine")
        trust.dataset_add_assets(actor=self.admin, dataset=self.dataset, asset_ids=[self.assets[0].pk])
        trust.dataset_freeze(actor=self.admin, dataset=self.dataset)
        self.in_dataset = 1
        # Start from full consent, so approvals succeed and every withdrawal matters.
        for member in self.members:
            for use in USES:
                trust.consent_grant(actor=member.user, member=member, use=use)

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    @rule(member=st.integers(0, 1), use=st.sampled_from(USES), scope=st.integers(-1, 2))
    def grant(self, member, use, scope):
        asset = self.assets[scope] if scope >= 0 else None
        # Not their asset, or already granted: refused, nothing written.
        with contextlib.suppress(DomainError):
            trust.consent_grant(
                actor=self.members[member].user, member=self.members[member], use=use, asset=asset
            )

    @rule(member=st.integers(0, 1), pick=st.integers(0, 20))
    def withdraw(self, member, pick):
        grants = list(
            Consent.objects.filter(
                member=self.members[member], state="granted", withdrawal__isnull=True
            ).order_by("pk")
        )
        if grants:
            trust.consent_withdraw(actor=self.members[member].user, consent=grants[pick % len(grants)])

    @precondition(lambda self: self.in_dataset < len(self.assets))
    @rule()
    def freeze_a_bigger_version(self):
        asset = self.assets[self.in_dataset]
        trust.dataset_add_assets(actor=self.admin, dataset=self.dataset, asset_ids=[asset.pk])
        trust.dataset_freeze(actor=self.admin, dataset=self.dataset)
        self.in_dataset += 1

    @rule(uses=st.lists(st.sampled_from(LICENSABLE_USE_VALUES), min_size=1, max_size=2, unique=True))
    def approve_a_lease(self, uses):
        terms = licensing.terms_create(
            actor=self.admin, dataset=self.dataset, title="t", permitted_uses=uses, duration_days=30
        )
        lease = licensing.lease_request(actor=self.studio_staff, terms=terms, purpose="state machine")
        try:
            licensing.lease_approve(actor=self.admin, lease=lease)
        except DomainError as refused:
            assert refused.code == "nothing_licensable"

    @precondition(lambda self: Lease.objects.active().exists())
    @rule(pick=st.integers(0, 20))
    def revoke_a_lease(self, pick):
        leases = list(Lease.objects.active().order_by("pk"))
        licensing.lease_revoke(actor=self.admin, lease=leases[pick % len(leases)])

    @invariant()
    def the_table_is_the_rule(self):
        assert_table_follows_the_rule()


def test_the_licensable_set_is_the_rule_after_any_sequence_of_changes(cast):
    run_state_machine_as_test(
        lambda: ConsentAndLeases(cast),
        settings=settings(
            max_examples=int(os.environ.get("STATEFUL_EXAMPLES", "15")),
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_a_withdrawal_leaves_the_set_and_the_gateway_in_the_same_transaction(world):
    download = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.bob_asset.pk}/download/"
    assert bearer_client(world.secret_a).get(download).status_code == 302
    with transaction.atomic():
        trust.consent_withdraw(actor=world.cast.bob.user, consent=world.cast.bob.consents.get(use="training"))
        # Before the commit: the set already lacks the asset for every active lease.
        assert world.bob_asset.pk not in _table(world.lease_a) | _table(world.lease_b)
    refused = bearer_client(world.secret_a).get(download)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_licensable")
    manifest = json_body(bearer_client(world.secret_a).get(f"/api/v1/leases/{world.lease_a.pk}/manifest/"))
    assert [row["id"] for row in manifest["assets"]] == [str(world.alice_asset.pk)]


def test_a_grant_makes_a_held_asset_licensable_for_active_leases(world):
    trust.consent_withdraw(actor=world.cast.bob.user, consent=world.cast.bob.consents.get(use="training"))
    trust.consent_grant(
        actor=world.cast.bob.user, member=world.cast.bob, use="training", asset=world.bob_asset
    )
    download = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.bob_asset.pk}/download/"
    assert bearer_client(world.secret_a).get(download).status_code == 302
    assert_table_follows_the_rule()


def test_approval_fills_the_set_and_the_assets_licensable_at_approval(world):
    for lease in (world.lease_a, world.lease_b):
        assert _table(lease) == {world.alice_asset.pk, world.bob_asset.pk}
        assert set(lease.approval_assets.values_list("pk", flat=True)) == _table(lease)
