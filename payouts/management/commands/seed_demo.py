"""Seed a small demo trust for `make run`: logins, members, assets with placeholder bytes,
consents, a dataset, terms, a studio with an active lease, usage, and three closed periods
that all end before the seed runs. Embedded default only: the password is public."""

import hashlib
import random
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from licensing import services as licensing
from licensing.models import Lease, UsageEvent
from payouts import services as payouts
from trust import services as trust
from trust.consent import Use
from trust.models import Asset

DEMO_PASSWORD = "guildtrust-demo"
MEMBERS = [
    ("member", "M-0001", "Alex Rivera", True),
    ("sam", "M-0002", "Sam Okafor", False),
    ("jordan", "M-0003", "Jordan Lee", False),
]
# (kind, title, {username: share})
ASSETS = [
    ("face_scan", "Alex: 3D face scan, neutral light", {"member": "1"}),
    ("body_scan", "Sam: full-body scan, crowd wardrobe", {"sam": "1"}),
    ("motion_capture", "Alex & Jordan: stunt fall, two takes", {"member": "0.5", "jordan": "0.5"}),
    ("voice_recording", "Jordan: voice session, 40 minutes", {"jordan": "1"}),
    (
        "performance_footage",
        "Ensemble: crowd scene, day 3",
        {"member": "0.25", "sam": "0.25", "jordan": "0.5"},
    ),
]


def _month_start(moment, months_back: int):
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(months_back):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


class Command(BaseCommand):
    help = "Seed a demo trust with three closed periods of history (embedded default only)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--any-database",
            action="store_true",
            help="seed even on a server database (the browser tests' throwaway one)",
        )

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(username="admin").exists():
            self.stdout.write("demo trust already seeded")
            self._print_logins()
            return
        if (
            not options["any_database"]
            and not settings.DEBUG
            and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3"
        ):
            raise CommandError("seed_demo makes public demo logins: run it on the embedded default only")
        steps = tqdm(total=6, unit="step", file=self.stderr._out, disable=options["verbosity"] == 0)
        with transaction.atomic():
            admin = User.objects.create_superuser("admin", "admin@guildtrust.example", DEMO_PASSWORD)
            members = {
                username: trust.member_enrol(
                    actor=admin,
                    username=username,
                    password=DEMO_PASSWORD,
                    email=f"{username}@guildtrust.example",
                    member_number=number,
                    display_name=name,
                    listed_publicly=listed,
                )
                for username, number, name, listed in MEMBERS
            }
        # Test IBANs from the banks' published examples, so the demo can export a pain.001 file.
        for username, iban in (("member", "DE89370400440532013000"), ("sam", "GB33BUKB20201555555555")):
            trust.member_set_bank_account(actor=admin, member=members[username], iban=iban)
        steps.update()
        assets = [self._asset(admin, members, kind, title, shares) for kind, title, shares in ASSETS]
        steps.update()
        for username, member in members.items():
            for use in (Use.CAPTURE, Use.TRAINING, Use.REPLICA_PASSIVE):
                trust.consent_grant(actor=member.user, member=member, use=use)
            if username != "sam":  # Sam keeps crowd generation closed: not every member says yes
                trust.consent_grant(actor=member.user, member=member, use=Use.CROWD_GENERATION)
        steps.update()
        dataset = trust.dataset_create(
            actor=admin,
            slug="crowd-and-stunts-2026",
            title="Crowd & stunts 2026",
            description="Scans, motion capture and footage from background work.",
        )
        trust.dataset_add_assets(actor=admin, dataset=dataset, asset_ids=[a.pk for a in assets])
        trust.dataset_freeze(actor=admin, dataset=dataset)
        terms = licensing.terms_create(
            actor=admin,
            dataset=dataset,
            title="Training & background placement, 120 days",
            permitted_uses=[Use.TRAINING, Use.REPLICA_PASSIVE],
            duration_days=120,
            flat_fee_cents=120_000,
            price_per_download_cents=50,
            price_per_training_run_cents=2_500,
            price_per_generated_second_cents=2,
            download_cap=500,
        )
        crowd_terms = licensing.terms_create(
            actor=admin,
            dataset=dataset,
            title="Crowd generation, 30 days",
            permitted_uses=[Use.CROWD_GENERATION],
            duration_days=30,
            flat_fee_cents=45_000,
            price_per_generated_second_cents=3,
        )
        steps.update()
        studio = licensing.studio_create(actor=admin, name="Northlight Pictures")
        licensing.studio_add_staff(
            actor=admin,
            studio=studio,
            username="studio",
            password=DEMO_PASSWORD,
            email="studio@northlight.example",
        )
        staff = User.objects.get(username="studio")
        lease = licensing.lease_request(
            actor=staff, terms=terms, purpose="Background placement model for 'Harbour Lights' season 2"
        )
        lease = licensing.lease_approve(actor=admin, lease=lease)
        self._history(admin, staff, lease, assets)
        # Something for the administrator to decide, and a month still open to close.
        licensing.lease_request(
            actor=staff, terms=crowd_terms, purpose="Stadium crowd shots for 'Final Whistle'"
        )
        this_month = _month_start(timezone.now(), 0)
        next_month = (this_month + timedelta(days=32)).replace(day=1)
        payouts.period_create(actor=admin, start=this_month, end=next_month)
        steps.update()
        steps.close()
        self.stdout.write(self.style.SUCCESS("demo trust seeded"))
        self._print_logins()

    def _asset(self, admin, members, kind, title, shares):
        # Placeholder bytes, deterministic per title, so the demo's hashes are stable.
        data = random.Random(title).randbytes(64 * 1024)
        contributors = [{"member": members[u].pk, "share": s} for u, s in shares.items()]
        asset, _ = trust.asset_create(
            actor=admin,
            kind=kind,
            title=title,
            content_type="application/octet-stream",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            contributors=contributors,
        )
        from trust.storage import get_object_store

        get_object_store().put_bytes(asset.object_key, data, content_type=asset.content_type)
        trust.asset_complete(actor=admin, asset=asset)
        trust.asset_verify(asset_id=asset.pk)
        return Asset.objects.get(pk=asset.pk)

    def _history(self, admin, staff, lease, assets):
        """Move the demo lease back into the past and give it three months of usage, then
        close those months. Backdating is the seed's privilege; services never do it."""
        now = timezone.now()
        starts = _month_start(now, 3) + timedelta(days=4, hours=10)
        Lease.objects.filter(pk=lease.pk).update(
            starts_at=starts, ends_at=starts + timedelta(days=120), decided_at=starts
        )
        lease.refresh_from_db()
        token, _ = licensing.token_mint(actor=staff, lease=lease, name="render-farm")
        rng = random.Random(2026)
        events = []
        for month in (3, 2, 1):
            base = max(_month_start(now, month), starts) + timedelta(hours=1)
            for day in range(0, 24, 3):
                at = base + timedelta(days=day, hours=rng.randint(0, 8))
                asset = rng.choice(assets)
                UsageEvent.objects.create(
                    lease=lease,
                    event_key=f"seed-download:{month}:{day}",
                    kind=UsageEvent.Kind.DOWNLOAD,
                    asset=asset,
                    quantity=1,
                    occurred_at=at,
                    source=UsageEvent.Source.GATEWAY,
                    token=token,
                )
                events.append(
                    {
                        "event_key": f"seed-run:{month}:{day}",
                        "kind": "training_run",
                        "quantity": rng.randint(1, 3),
                        "occurred_at": at,
                    }
                )
                events.append(
                    {
                        "event_key": f"seed-gen:{month}:{day}",
                        "kind": "generated_second",
                        "asset": asset.pk,
                        "quantity": rng.randint(60, 900),
                        "occurred_at": at,
                    }
                )
        licensing.usage_report(token=token, lease_id=lease.pk, events=events)
        payouts.rates_set(actor=admin, admin_fee_bps=1000, pension_bps=500)
        for month in (3, 2, 1):
            period = payouts.period_create(
                actor=admin, start=_month_start(now, month), end=_month_start(now, month - 1)
            )
            payouts.period_close(period_id=period.pk)

    def _print_logins(self):
        self.stdout.write(
            "\nDemo logins at /accounts/login/ (password for all: guildtrust-demo):\n"
            "  admin   trust administrator   /operations/  (Django admin: /admin/)\n"
            "  member  Alex Rivera, member   /member/\n"
            "  studio  Northlight Pictures   /studio/      (API docs: /api/docs/)\n"
        )
