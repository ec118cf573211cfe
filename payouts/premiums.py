"""The negotiators' premiums (issue 13 item 4), metered into a closing period beside the flat
fee and usage, then split by the one distribution rule (trust fee, pension, floor + largest
remainder) like every other charge.

- Production fee: lease terms may carry `production_fee_cents`, and a lease names its
  production. The fee is charged once per (studio, production title): in the period the first
  lease of that studio for that production starts (its approval, as the flat fee), on that
  lease. A later lease of the same studio for the same production pays none; a lease for
  another production pays again. Titles compare without case, after `production_title` made
  their spaces single. The first lease is the earliest approved (then lowest id) of the
  studio's leases for the title that carry a fee and were ever active. It is a shared charge:
  spread equally across the lease's assets licensable at approval, like the flat fee.
- Substitution premium: terms may carry `substitution_premium_bps`. The studio reports a
  `substitution_saving` usage event with the costs a digital double saved it (`amount_cents`,
  kept as the event's quantity). A period's savings of a lease are summed per asset named (or
  for the lease as a whole when the event names none), and the premium of each sum is
  `floor(saving x bps / 10000)`: charged to that asset, or shared like the flat fee.

A federated lease carries neither yet (licensing.services.lease_approve sets both to 0): the
split of a lease's shared charges across its parts covers the flat fee and training runs.

Both are PeriodCharge rows of quantity 1 at the premium's amount, so invoices show each as its
own line (payouts/invoices.py `_lease_lines`) and members' statements as their own use."""

from django.db import connection
from django.db.models import Sum

from licensing.models import Lease, UsageEvent

from .distribution import BPS
from .models import MemberEarningLine, Period, PeriodCharge

PRODUCTION_FEE = MemberEarningLine.Use.PRODUCTION_FEE
SUBSTITUTION_PREMIUM = MemberEarningLine.Use.SUBSTITUTION_PREMIUM
SAVING = UsageEvent.Kind.SUBSTITUTION_SAVING


def substitution_premium_cents(saving_cents: int, premium_bps: int) -> int:
    """The premium on a saving: floor(saving x bps / 10000), in whole cents."""
    if saving_cents < 0 or not 0 <= premium_bps <= BPS:
        raise ValueError("a saving is not negative and a premium is 0 to 10000 basis points")
    return saving_cents * premium_bps // BPS


# The leases `l` that owe a production fee in the period [%s, %s): approved in it, carrying a
# fee, and their studio's first lease for the title among those ever active (%s, %s twice: the
# statuses of a lease never active). Leases are few: the subquery reads the studio's own.
FIRST_FOR_ITS_PRODUCTION = f"""l.starts_at >= %s AND l.starts_at < %s AND l.status NOT IN (%s, %s)
    AND l.production_fee_cents > 0
    AND NOT EXISTS (
        SELECT 1 FROM {Lease._meta.db_table} o
        WHERE o.studio_id = l.studio_id AND UPPER(o.production) = UPPER(l.production)
          AND o.production_fee_cents > 0 AND o.starts_at IS NOT NULL AND o.status NOT IN (%s, %s)
          AND (o.starts_at < l.starts_at OR (o.starts_at = l.starts_at AND o.id < l.id)))"""


def accrued_premiums(period: Period, *, never_active) -> dict:
    """What the close would charge for the period's premiums so far, by the metering's rules, in
    two aggregate queries: production fees (leases and cents) and substitution savings (cents
    saved, and the premium on them, each (lease, asset) sum floored once)."""
    start = connection.ops.adapt_datetimefield_value(period.start)
    end = connection.ops.adapt_datetimefield_value(period.end)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), COALESCE(SUM(l.production_fee_cents), 0) FROM {Lease._meta.db_table} l "
            f"WHERE {FIRST_FOR_ITS_PRODUCTION}",
            [start, end, *never_active, *never_active],
        )
        leases, fees = cursor.fetchone()
    saved = premium = 0
    for row in (
        UsageEvent.objects.filter(kind=SAVING, occurred_at__gte=period.start, occurred_at__lt=period.end)
        .values("lease_id", "asset_id", "lease__substitution_premium_bps")
        .annotate(saved=Sum("quantity"))
        .order_by()
    ):
        saved += int(row["saved"])
        premium += substitution_premium_cents(int(row["saved"]), row["lease__substitution_premium_bps"])
    return {
        "production_fee_leases": int(leases),
        "production_fee_cents": int(fees),
        "saved_cents": saved,
        "substitution_premium_cents": premium,
    }


def meter_premiums(
    cursor, period: Period, *, start, end, leases: tuple[int, int], metered: str, metered_params, never_active
) -> int:
    """Write the period's production fees and substitution premiums into PeriodCharge for the
    leases being metered (`metered`: the metering's SQL condition on lease `l`, with
    `metered_params`; `leases`: the first and last id of their range), in three statements
    whatever the volume. The summed savings are already rows of use `substitution_saving` (the
    metering's usage insert): they become premium rows. Returns the rows added (production
    fees, less savings too small to earn a cent)."""
    charges, table = PeriodCharge._meta.db_table, Lease._meta.db_table
    columns = "period_id, lease_id, use, asset_id, quantity, unit_price_cents"
    cursor.execute(
        f"""INSERT INTO {charges} ({columns})
        SELECT %s, l.id, %s, NULL, 1, l.production_fee_cents FROM {table} l
        WHERE {FIRST_FOR_ITS_PRODUCTION} AND {metered}""",
        [period.pk, PRODUCTION_FEE, start, end, *never_active, *never_active, *metered_params],
    )
    written = cursor.rowcount
    # Exact integer arithmetic on both databases: numeric on PostgreSQL (the product of a large
    # summed saving and the rate may pass BIGINT before the division), integers on SQLite.
    if connection.vendor == "postgresql":
        premium = f"FLOOR({charges}.quantity::numeric * l.substitution_premium_bps / {BPS})::bigint"
    else:
        premium = f"({charges}.quantity * l.substitution_premium_bps) / {BPS}"
    cursor.execute(
        f"""UPDATE {charges} SET use = %s, quantity = 1,
            unit_price_cents = (SELECT {premium} FROM {table} l WHERE l.id = {charges}.lease_id)
        WHERE period_id = %s AND use = %s AND lease_id BETWEEN %s AND %s""",
        [SUBSTITUTION_PREMIUM, period.pk, SAVING, *leases],
    )
    # A saving too small to earn a cent charges nothing: no row, as for unpriced usage.
    cursor.execute(
        f"""DELETE FROM {charges} WHERE period_id = %s AND use = %s AND unit_price_cents = 0
        AND lease_id BETWEEN %s AND %s""",
        [period.pk, SUBSTITUTION_PREMIUM, *leases],
    )
    return written - cursor.rowcount
