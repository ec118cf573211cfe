import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("trust", "0007_seed_consent_texts_link_decisions")]

    operations = [
        migrations.AlterField(
            model_name="consent",
            name="text",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="consents", to="trust.consenttext"
            ),
        ),
    ]
