"""A federated lease homed here is invoiced whole, in two steps (see README, "Invoices and
payments"): its home part at the close, its peer part on the studio's next invoice once both
trusts agreed the settlement. Figures from tests/payouts/test_settlements.py: flat fee 1000 and
3 runs x 100 split 2:3 between home and equity-uk, so the home part is 400 + 120 = 520 and
equity-uk's part is 943."""

import pytest
from django.utils import timezone

from federation import signed_calls
from payouts import ledger, services, settlements
from payouts.models import Invoice, Period
from tests.payouts.test_settlements import PART_FIGURES, PartTrust, home  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def test_the_home_part_is_invoiced_at_the_close_and_the_peer_part_on_the_next_invoice(
    world,
    home,  # noqa: F811 (the fixture imported above)
    monkeypatch,
):
    equity, period = home
    lease = world.lease_a
    first = Invoice.objects.get(period=period, studio=lease.studio)
    lines = sorted(first.lines.values_list("use", "quantity", "unit_price_cents", "amount_cents"))
    # The whole lease's quantities and prices, the home part's share of the amounts.
    assert lines == [("flat_fee", 1, 1000, 400), ("training_run", 3, 100, 120)]
    assert first.total_cents == 520

    monkeypatch.setattr(signed_calls, "peer_call", PartTrust(lease.pk, PART_FIGURES))
    settlements.settle_with_peer(period_id=period.pk, peer_id=equity.pk)
    receivable = f"studio:{lease.studio_id}:receivable"
    assert ledger.balance_of(receivable) == 1463
    # The issued invoice is never changed.
    first.refresh_from_db()
    assert first.total_cents == 520

    later = services.period_create(actor=world.cast.admin, start=period.end, end=timezone.now())
    later = services.period_close(period_id=later.pk)
    assert later.status == Period.Status.CLOSED, later.failure_reason
    second = Invoice.objects.get(period=later, studio=lease.studio)
    assert list(second.lines.values_list("use", "amount_cents", "settlement__peer__slug")) == [
        ("peer_part", 943, "equity-uk")
    ]
    assert second.sequence == first.sequence + 2  # studio B's invoice of the first period between
    invoiced = sum(Invoice.objects.filter(studio=lease.studio).values_list("total_cents", flat=True))
    assert invoiced == ledger.balance_of(receivable) == 1463

    # Closing again bills the settlement no second time.
    services.period_close(period_id=later.pk)
    assert Invoice.objects.filter(studio=lease.studio).count() == 2
