"""After any history of grants, refusals, withdrawals, deaths and authority changes for three
contributors of shared assets, the licensable set, the precomputed set of an active lease and
its manifest all equal a plain model's answer: an asset is licensable only while every
contributor's grants, made by whoever held their authority when they were made, cover it. A
decision by anyone but the authority in force is refused and changes nothing, and a receipt of
an authority's decision says in whose right it was made."""

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
from licensing import tokens as lease_tokens
from licensing.models import LeaseAsset
from tests.conftest import bearer_client, json_body
from tests.factories import MemberFactory, UserFactory, make_asset
from trust import services as trust
from trust.errors import Conflict, DomainError, Forbidden
from trust.models import Asset, Consent
from trust.receipts import receipt_of
from trust.selectors import licensable_assets

pytestmark = pytest.mark.django_db

# Two licensable uses and the first opt-in keep the space small enough to reach every state.
USES = ["capture", "training", "voice_synthesis"]
LEASE_USES = ["training", "voice_synthesis"]
ACTORS = ["self", "rep0", "rep1", "rep2", "admin"]
ALIVE, UNION = "alive", "union"


class EstateHistories(RuleBasedStateMachine):
    """Members 0 and 1 named representatives rep0 and rep1; member 2 named no one. Assets: one
    each, one shared by 0 and 1, one shared by all three. One lease for both uses is active."""

    def __init__(self, cast):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.admin = cast.admin
        tag = uuid.uuid4().hex[:8]
        self.members = [
            MemberFactory(member_number=f"EH-{tag}-{n}", user__username=f"eh-{tag}-{n}") for n in range(3)
        ]
        self.users = {f"rep{n}": UserFactory(username=f"rep-{tag}-{n}") for n in range(3)}
        self.users["admin"] = self.admin
        for n in (0, 1):
            trust.estate_representative_name(
                actor=self.members[n].user, member=self.members[n], username=self.users[f"rep{n}"].username
            )
        m0, m1, m2 = self.members
        self.assets = [
            make_asset(admin=self.admin, contributors=[(m0, "1")], data=b"zero"),
            make_asset(admin=self.admin, contributors=[(m1, "1")], data=b"one"),
            make_asset(admin=self.admin, contributors=[(m2, "1")], data=b"two"),
            make_asset(admin=self.admin, contributors=[(m0, "0.5"), (m1, "0.5")], data=b"zero-one"),
            make_asset(admin=self.admin, contributors=[(m0, "0.2"), (m1, "0.3"), (m2, "0.5")], data=b"all"),
        ]
        self.contributors = {asset.pk: set() for asset in self.assets}
        for asset in self.assets:
            self.contributors[asset.pk] = set(asset.contributors.values_list("member_id", flat=True))
        # The model: each member's active grants as {(use, asset id or None)}, and who decides.
        self.grants = {member.pk: set() for member in self.members}
        self.authority = {member.pk: ALIVE for member in self.members}
        for member in self.members:
            for use in USES:
                trust.consent_grant(actor=member.user, member=member, use=use)
                self.grants[member.pk].add((use, None))
        dataset = trust.dataset_create(actor=self.admin, slug=f"eh-{tag}", title="estate histories")
        trust.dataset_add_assets(actor=self.admin, dataset=dataset, asset_ids=[a.pk for a in self.assets])
        trust.dataset_freeze(actor=self.admin, dataset=dataset)
        terms = licensing.terms_create(
            actor=self.admin, dataset=dataset, title="t", permitted_uses=LEASE_USES, duration_days=30
        )
        self.lease = licensing.lease_approve(
            actor=self.admin, lease=licensing.lease_request(actor=cast.carol, terms=terms, purpose="estates")
        )
        _, self.secret = lease_tokens.lease_token_mint(actor=cast.carol, lease=self.lease, name="estates")

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # The model's answers.

    def _may_decide(self, member, actor: str) -> bool:
        holder = self.authority[member.pk]
        if holder == ALIVE:
            return actor == "self"
        if holder == UNION:
            return actor == "admin"
        return actor == holder

    def _covered(self, member_id, use, asset_id) -> bool:
        return bool({(use, None), (use, asset_id)} & self.grants[member_id])

    def _model_licensable(self, uses) -> set:
        return {
            asset.pk
            for asset in self.assets
            if all(
                self._covered(member_id, use, asset.pk)
                for member_id in self.contributors[asset.pk]
                for use in ["capture", *uses]
            )
        }

    def _user(self, member, actor: str):
        return member.user if actor == "self" else self.users[actor]

    # What may happen.

    @rule(
        member=st.integers(0, 2),
        actor=st.sampled_from(ACTORS),
        use=st.sampled_from(USES),
        scope=st.integers(-1, 4),
        refuse=st.booleans(),
    )
    def decide(self, member, actor, use, scope, refuse):
        member = self.members[member]
        asset = self.assets[scope] if scope >= 0 else None
        decide = trust.consent_refuse if refuse else trust.consent_grant
        try:
            decision = decide(actor=self._user(member, actor), member=member, use=use, asset=asset)
        except Forbidden as refused:
            assert not self._may_decide(member, actor)
            assert refused.code in {"not_your_consent", "authority_passed"}
            return
        except DomainError as refused:
            # Not their asset, already granted, or a refusal of what a grant covers.
            assert self._may_decide(member, actor), refused.code
            return
        assert self._may_decide(member, actor)
        if not refuse:
            self.grants[member.pk].add((use, asset.pk if asset else None))
        self._check_receipt(decision, actor)

    @rule(member=st.integers(0, 2), actor=st.sampled_from(ACTORS), pick=st.integers(0, 20))
    def withdraw(self, member, actor, pick):
        member = self.members[member]
        grants = list(
            Consent.objects.filter(member=member, state="granted", withdrawal__isnull=True).order_by("pk")
        )
        if not grants:
            return
        grant = grants[pick % len(grants)]
        try:
            withdrawal = trust.consent_withdraw(actor=self._user(member, actor), consent=grant)
        except Forbidden:
            assert not self._may_decide(member, actor)
            return
        assert self._may_decide(member, actor)
        self.grants[member.pk].discard((grant.use, grant.asset_id))
        self._check_receipt(withdrawal, actor)

    @precondition(lambda self: ALIVE in self.authority.values())
    @rule(member=st.integers(0, 2), to_union=st.booleans())
    def death(self, member, to_union):
        member = self.members[member]
        if self.authority[member.pk] != ALIVE:
            with pytest.raises(Conflict):
                trust.member_record_death(actor=self.admin, member=member, died_on=_today(), evidence="cert")
            return
        trust.member_record_death(
            actor=self.admin,
            member=member,
            died_on=_today(),
            evidence="certificate 1",
            authority="union" if to_union else None,
        )
        named = {0: "rep0", 1: "rep1"}.get(self.members.index(member))
        self.authority[member.pk] = UNION if to_union or named is None else named

    @rule(member=st.integers(0, 2), to=st.sampled_from(["rep0", "rep1", "rep2", UNION]))
    def authority_change(self, member, to):
        member = self.members[member]
        authority = UNION if to == UNION else self.users[to].pk
        try:
            trust.consent_authority_change(
                actor=self.admin, member=member, authority=authority, evidence="order"
            )
        except Conflict:
            assert self.authority[member.pk] in {ALIVE, to}
            return
        self.authority[member.pk] = to

    def _check_receipt(self, decision, actor: str):
        method = receipt_of(decision)["method"]
        expected = {"self": "member", "admin": "union"}.get(actor, "estate_representative")
        assert (method["authority"], method["acting_for_subject"]) == (expected, actor != "self")

    @invariant()
    def every_answer_is_the_model(self):
        from django.utils import timezone

        now = timezone.now()
        ids = Asset.objects.filter(pk__in=[a.pk for a in self.assets])
        for uses in (["training"], ["voice_synthesis"], LEASE_USES):
            rule_answer = set(licensable_assets(assets=ids, uses=uses, at=now).values_list("pk", flat=True))
            assert rule_answer == self._model_licensable(uses), uses
        expected = self._model_licensable(LEASE_USES)
        assert set(LeaseAsset.objects.filter(lease=self.lease).values_list("asset_id", flat=True)) == expected
        manifest = json_body(bearer_client(self.secret).get(f"/api/v1/leases/{self.lease.pk}/manifest/"))
        assert {row["id"] for row in manifest["assets"]} == {str(pk) for pk in expected}
        shared = self.assets[4].pk
        served = bearer_client(self.secret).get(f"/api/v1/leases/{self.lease.pk}/assets/{shared}/download/")
        assert served.status_code == (302 if shared in expected else 403)


def _today():
    from django.utils import timezone

    return timezone.localdate()


def test_no_answer_ever_differs_from_the_authority_model(cast):
    run_state_machine_as_test(
        lambda: EstateHistories(cast),
        settings=settings(
            max_examples=int(os.environ.get("STATEFUL_EXAMPLES", "15")),
            stateful_step_count=14,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
