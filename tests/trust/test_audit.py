import pytest
from django.core.management import CommandError, call_command

from trust import audit
from trust.models import AuditEvent


@pytest.fixture
def chain(cast):
    # The cast's enrolments already wrote events; add a few of our own.
    for n in range(3):
        audit.record(actor=cast.admin, action="test.event", subject=cast.alice, data={"n": n})
    return AuditEvent.objects.order_by("seq")


def test_each_event_points_at_the_one_before(chain):
    events = list(chain)
    assert events[0].prev_hash == audit.GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(events, events[1:], strict=False))


def test_verify_command_passes_an_intact_chain(chain, capsys):
    call_command("verify_audit_chain", verbosity=0)
    assert f"{chain.count()} events verified" in capsys.readouterr().out


def test_verify_command_finds_an_edited_event(chain):
    victim = chain[1]
    AuditEvent.objects.filter(pk=victim.pk).update(data={"n": 99})
    with pytest.raises(CommandError, match=f"#{victim.seq}"):
        call_command("verify_audit_chain", verbosity=0)


def test_verify_command_finds_a_deleted_event(chain):
    AuditEvent.objects.filter(pk=chain[1].pk).delete()
    with pytest.raises(CommandError, match="missing"):
        call_command("verify_audit_chain", verbosity=0)


def test_verify_command_finds_the_newest_event_removed(chain):
    AuditEvent.objects.filter(pk=chain.last().pk).delete()
    with pytest.raises(CommandError, match="removed"):
        call_command("verify_audit_chain", verbosity=0)


def test_every_decision_about_consent_leases_tokens_takedowns_and_money_is_audited(world):
    from licensing import services as licensing
    from licensing import tokens as lease_tokens
    from payouts import services as payouts
    from trust import services as trust

    trust.consent_withdraw(actor=world.cast.bob.user, consent=world.cast.bob.consents.get(use="training"))
    lease_tokens.lease_token_revoke(actor=world.cast.carol, lease=world.lease_a, token=world.token_a)
    takedown = world.lease_a.takedowns.get()
    licensing.takedown_acknowledge(actor=world.cast.carol, takedown=takedown)
    licensing.takedown_attest_deletion(actor=world.cast.carol, takedown=takedown, statement="deleted")
    licensing.lease_revoke(actor=world.cast.admin, lease=world.lease_b)
    from django.utils import timezone

    period = payouts.period_create(actor=world.cast.admin, start=world.lease_a.starts_at, end=timezone.now())
    payouts.period_close(period_id=period.pk)
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "consent.granted",
        "consent.withdrawn",
        "lease.requested",
        "lease.approved",
        "lease.revoked",
        "token.minted",
        "token.revoked",
        "takedown.issued",
        "takedown.acknowledged",
        "takedown.deletion_attested",
        "distribution.posted",
        "period.closed",
        "dataset.frozen",
    } <= actions
    call_command("verify_audit_chain", verbosity=0)
