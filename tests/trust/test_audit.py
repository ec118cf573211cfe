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
