"""Correcting a member's record and revoking someone's API token: administrators only, audited."""

import pytest

from trust import services, tokens
from trust.errors import Forbidden, Invalid
from trust.models import AuditEvent, UserToken

pytestmark = pytest.mark.django_db


def test_an_administrator_renames_a_member_and_the_audit_keeps_the_old_name(cast):
    services.member_update(
        actor=cast.admin, member=cast.alice, display_name=" Alice Ames ", listed_publicly=True
    )
    cast.alice.refresh_from_db()
    assert (cast.alice.display_name, cast.alice.listed_publicly) == ("Alice Ames", True)
    event = AuditEvent.objects.get(action="member.updated")
    assert event.data == {
        "display_name": {"from": "Alice", "to": "Alice Ames"},
        "listed_publicly": {"from": False, "to": True},
    }


@pytest.mark.parametrize("who", ["alice", "carol", "outsider"])
def test_only_an_administrator_may_update_a_member(cast, who):
    actor = getattr(cast, who)
    with pytest.raises(Forbidden):
        services.member_update(
            actor=getattr(actor, "user", actor),
            member=cast.alice,
            display_name="Mallory",
            listed_publicly=True,
        )
    cast.alice.refresh_from_db()
    assert cast.alice.display_name == "Alice"


def test_a_blank_name_is_refused_and_an_unchanged_record_writes_no_event(cast):
    with pytest.raises(Invalid):
        services.member_update(actor=cast.admin, member=cast.alice, display_name="  ", listed_publicly=False)
    services.member_update(actor=cast.admin, member=cast.alice, display_name="Alice", listed_publicly=False)
    assert not AuditEvent.objects.filter(action="member.updated").exists()


def test_someone_else_cannot_revoke_a_users_api_token(cast):
    token, _ = tokens.user_token_mint(user=cast.carol)
    with pytest.raises(Forbidden):
        tokens.user_token_revoke(actor=cast.dave, token=token)
    assert UserToken.objects.get(pk=token.pk).revoked_at is None
    tokens.user_token_revoke(token=token)  # its owner, signing out
    assert UserToken.objects.get(pk=token.pk).revoked_at is not None
    # Every token mint and revocation is audited (DESIGN), the owner's own included.
    assert AuditEvent.objects.filter(action="user_token.minted", subject_id=str(token.pk)).count() == 1
    revoked = AuditEvent.objects.get(action="user_token.revoked", subject_id=str(token.pk))
    assert revoked.actor_id == cast.carol.pk
