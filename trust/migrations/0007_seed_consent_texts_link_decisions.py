"""Today's consent texts become version 1 records, and every existing decision points at the
record it was hashed from. The texts are written out here (not imported): a migration keeps
what was true when it was written.

Grants have always stored sha256("<terms version>\n<text>"), so a row is linked by that hash.
Should rows carry more than one terms version (the setting changed over time), each one gets
its own version of the text, in order of first use. A row whose hash matches no text stops the
migration: a consent record must never point at a text it was not shown."""

import hashlib

from django.conf import settings
from django.db import migrations
from django.db.models import Min
from django.utils import timezone
from datetime import UTC, datetime

TEXTS = {
    "capture": "The trust may hold this data in encrypted storage and list it in datasets. "
    "Nothing is licensed for any use without a further grant.",
    "training": "Studios that lease a dataset including this data may train AI models on it.",
    "replica_active": "Studios may make a digital replica that performs new lines or actions.",
    "replica_passive": "Studios may use a digital replica for touch-ups and background placement.",
    "voice_synthesis": "Studios may synthesise speech in this voice.",
    "crowd_generation": "Studios may generate crowds that include this likeness.",
}


# When version 1 took effect: the first edition of the trust's consent terms (2026-1), before any
# decision, so every decision dated before this migration (a seeded history too) finds it in force.
FIRST_EDITION = datetime(2026, 1, 1, tzinfo=UTC)


def _sha256(terms_version: str, text: str) -> str:
    return hashlib.sha256(f"{terms_version}\n{text}".encode()).hexdigest()


def seed_first_texts(ConsentText, terms_version: str) -> None:
    """Version 1 of every use's text, as this migration makes it on a database with no decisions
    yet (tests that flush their tables put them back with this)."""
    for use, text in TEXTS.items():
        ConsentText.objects.create(
            use=use,
            language="en",
            version=1,
            terms_version=terms_version,
            effective_at=FIRST_EDITION,
            text=text,
            sha256=_sha256(terms_version, text),
        )


def seed_and_link(apps, schema_editor):
    ConsentText = apps.get_model("trust", "ConsentText")
    Consent = apps.get_model("trust", "Consent")
    first_use = dict(
        Consent.objects.values("terms_version").annotate(first=Min("created_at")).values_list("terms_version", "first")
    )
    current = settings.TRUST_CONSENT_TERMS_VERSION
    terms_versions = sorted(first_use, key=lambda version: (first_use[version], version))
    if current not in first_use:
        terms_versions.append(current)
    # Version 1 has been in force since the first edition; a later terms version since its first use.
    effective = {
        terms_version: FIRST_EDITION if number == 1 else first_use.get(terms_version, timezone.now())
        for number, terms_version in enumerate(terms_versions, start=1)
    }
    for use, text in TEXTS.items():
        for number, terms_version in enumerate(terms_versions, start=1):
            sha256 = _sha256(terms_version, text)
            record = ConsentText.objects.create(
                use=use,
                language="en",
                version=number,
                terms_version=terms_version,
                effective_at=effective[terms_version],
                text=text,
                sha256=sha256,
            )
            Consent.objects.filter(use=use, consent_text_sha256=sha256).update(text=record)
    unlinked = Consent.objects.filter(text__isnull=True).count()
    if unlinked:
        raise RuntimeError(
            f"{unlinked} consent records hash a text this migration does not know; "
            "add that text to TEXTS before migrating"
        )


class Migration(migrations.Migration):
    dependencies = [("trust", "0006_consent_texts_refusals_reconfirmations")]

    operations = [migrations.RunPython(seed_and_link, migrations.RunPython.noop)]
