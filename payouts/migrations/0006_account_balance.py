from django.db import migrations, models
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce


def backfill(apps, schema_editor):
    Account = apps.get_model("payouts", "Account")
    LedgerEntry = apps.get_model("payouts", "LedgerEntry")
    total = (
        LedgerEntry.objects.filter(account=OuterRef("pk"))
        .order_by()
        .values("account")
        .annotate(total=Sum("amount_cents"))
        .values("total")
    )
    Account.objects.update(balance_cents=Coalesce(Subquery(total, output_field=models.BigIntegerField()), 0))


class Migration(migrations.Migration):
    dependencies = [("payouts", "0005_close_in_batches")]

    operations = [
        migrations.AddField(model_name="account", name="balance_cents", field=models.BigIntegerField(default=0, db_default=0)),
        # No index on the balance: every posting updates it, and an unindexed column keeps those
        # updates HOT (no index churn); the balance lists read every member account anyway.
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
