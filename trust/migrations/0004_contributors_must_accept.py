from django.db import migrations, models

STATUS_CHOICES = [("pending", "Waiting for acceptance"), ("accepted", "Accepted"), ("declined", "Declined")]


class Migration(migrations.Migration):
    """A named contributor must accept. Every share so far was registered by the trust, so the
    existing rows are accepted; new rows start pending unless the service accepts them."""

    dependencies = [
        ("trust", "0003_member_payout_bank_account"),
    ]
    # licensing 0007 fills the precomputed licensable set by asking the rule, which reads the
    # contributors' status: the column must exist first.
    run_before = [("licensing", "0007_licensable_now_and_download_counts")]

    operations = [
        migrations.AddField(
            model_name="assetcontributor",
            name="decided_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="assetcontributor",
            name="status",
            field=models.CharField(choices=STATUS_CHOICES, default="accepted", max_length=16),
        ),
        migrations.AlterField(
            model_name="assetcontributor",
            name="status",
            field=models.CharField(choices=STATUS_CHOICES, default="pending", max_length=16),
        ),
        migrations.AddIndex(
            model_name="assetcontributor",
            index=models.Index(fields=["member", "status"], name="contribution_member_status"),
        ),
        migrations.AddConstraint(
            model_name="assetcontributor",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["pending", "accepted", "declined"])),
                name="contribution_status_known",
            ),
        ),
    ]
