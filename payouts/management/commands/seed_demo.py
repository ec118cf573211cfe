"""Seed a small demo trust for `make run`: logins, members, assets with placeholder bytes,
consents, a dataset, terms, a studio with an active lease, usage, three closed periods, one
period that has ended but waits for the administrator to close it, and this month's open
period. Embedded default only: the password is public.

The story is told through the services, in the order it happened, on a story clock that
starts five months ago and moves forward only: every row, token use and audit event carries
the time its service saw, so the dates agree with each other and the audit chain verifies.

`--cast equity-uk` seeds the second trust of `make federation` (`seed_federation` then peers the
two): other members, member numbers and dataset, and no studio of its own, so its story is the
members' and the dataset's (enrolment, consent, curation, terms, this month's period)."""

import hashlib
import random
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from unittest import mock

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from licensing import services as licensing
from licensing import tokens as lease_tokens
from payouts import invoices
from payouts import services as payouts
from payouts.models import Invoice, Period
from trust import services as trust
from trust.consent import Use
from trust.models import Asset

DEMO_PASSWORD = "guildtrust-demo"


@dataclass(frozen=True)
class Cast:
    """Who a demo trust's story is about. The default is the trust `make run` serves; `make
    federation` seeds a second trust with another cast, so its member numbers and people differ
    from its peer's. A cast without a studio tells the members' and the dataset's part only."""

    # (username, member number, name, listed publicly); the first is the `member` demo login.
    members: list
    # (kind, title, {username: share})
    assets: list
    # Registered by the first member it names, naming another, who has not answered yet.
    named_by_a_member: tuple
    # The demo's test IBANs come from the banks' published examples, so it can export a pain.001 file.
    bank_accounts: dict
    # Not every member says yes: this one keeps crowd generation closed.
    crowd_holdout: str
    email_domain: str
    dataset: dict
    # (name, email) of the studio whose staff login is `studio`; None for no studio here.
    studio: tuple | None


CASTS = {
    "sag-aftra": Cast(
        members=[
            ("member", "M-0001", "Alex Rivera", True),
            ("sam", "M-0002", "Sam Okafor", False),
            ("jordan", "M-0003", "Jordan Lee", False),
        ],
        assets=[
            ("face_scan", "Alex: 3D face scan, neutral light", {"member": "1"}),
            ("body_scan", "Sam: full-body scan, crowd wardrobe", {"sam": "1"}),
            ("motion_capture", "Alex & Jordan: stunt fall, two takes", {"member": "0.5", "jordan": "0.5"}),
            ("voice_recording", "Jordan: voice session, 40 minutes", {"jordan": "1"}),
            (
                "performance_footage",
                "Ensemble: crowd scene, day 3",
                {"member": "0.25", "sam": "0.25", "jordan": "0.5"},
            ),
        ],
        named_by_a_member=(
            "performance_footage",
            "Sam & Alex: rehearsal, scene 12",
            {"sam": "0.6", "member": "0.4"},
        ),
        bank_accounts={"member": "DE89370400440532013000", "sam": "GB33BUKB20201555555555"},
        crowd_holdout="sam",
        # union.example: the password validators refuse guildtrust-demo beside a guildtrust address.
        email_domain="union.example",
        dataset={
            "slug": "crowd-and-stunts-2026",
            "title": "Crowd & stunts 2026",
            "description": "Scans, motion capture and footage from background work.",
        },
        studio=("Northlight Pictures", "studio@northlight.example"),
    ),
    "equity-uk": Cast(
        members=[
            ("member", "EQ-1001", "Priya Shah", True),
            ("owen", "EQ-1002", "Owen Pritchard", False),
            ("niamh", "EQ-1003", "Niamh Byrne", False),
        ],
        assets=[
            ("face_scan", "Priya: 3D face scan, stage light", {"member": "1"}),
            ("motion_capture", "Owen & Niamh: sword fight, three takes", {"owen": "0.5", "niamh": "0.5"}),
            ("voice_recording", "Niamh: audiobook session, 55 minutes", {"niamh": "1"}),
            (
                "performance_footage",
                "Ensemble: market crowd, day 1",
                {"member": "0.5", "owen": "0.25", "niamh": "0.25"},
            ),
        ],
        named_by_a_member=(
            "still_image",
            "Owen & Priya: rehearsal stills, act 2",
            {"owen": "0.5", "member": "0.5"},
        ),
        bank_accounts={"member": "GB29NWBK60161331926819", "owen": "GB33BUKB20201555555555"},
        crowd_holdout="owen",
        email_domain="equity-union.example",
        dataset={
            "slug": "stage-and-screen-uk-2026",
            "title": "Stage & screen UK 2026",
            "description": "Scans, fight capture, voice and crowd footage from UK productions.",
        },
        studio=None,
    ),
}
DEFAULT_CAST = "sag-aftra"
# The terms `make federation` shares with the peer trust and leases over both trusts.
TRAINING_TERMS_TITLE = "Training & background placement, 180 days"


def require_embedded_default(why: str) -> None:
    """The demo's logins and passwords are public: refuse a server database (unless DEBUG)."""
    if not settings.DEBUG and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        raise CommandError(f"{why}: run it on the embedded default only")


def _month_start(moment, months_back: int):
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(months_back):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


class StoryClock:
    """The time every service sees while the seed runs. It moves forward only, and never past
    the real time the seed started at, so nothing is dated in the future."""

    def __init__(self, start: datetime, real_now: datetime):
        self.moment, self.real_now = start, real_now

    def at(self, moment: datetime) -> datetime:
        if moment < self.moment or moment > self.real_now:
            raise ValueError(f"the story cannot move from {self.moment} to {moment}")
        self.moment = moment
        return moment

    def now(self) -> datetime:
        return self.moment


@contextmanager
def story_clock(start: datetime, real_now: datetime):
    clock = StoryClock(start, real_now)
    with mock.patch.object(timezone, "now", clock.now):
        yield clock


class Command(BaseCommand):
    help = (
        "Seed a demo trust: three closed periods of history, one ended period to close, "
        "this month open (embedded default only)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--any-database",
            action="store_true",
            help="seed even on a server database (the browser tests' throwaway one)",
        )
        parser.add_argument(
            "--cast",
            choices=sorted(CASTS),
            default=DEFAULT_CAST,
            help="whose story: the default trust's, or the second trust's of `make federation`",
        )

    def _studio_pays_last_invoice(self, admin, *, paid_on, whole: bool) -> None:
        """The studio paid its previous invoice (issued by the close before) before this close: in
        full the first time, half the next (the demo shows a paid, a partly paid and an unpaid
        invoice)."""
        paid = Invoice.objects.filter(status=Invoice.Status.OPEN).order_by("sequence").first()
        if paid is None or Invoice.objects.filter(paid_cents__gt=0).count() >= 2:
            return
        invoices.invoice_payment_record(
            actor=admin,
            invoice=paid,
            amount_cents=paid.total_cents if whole else paid.total_cents // 2,
            paid_at=paid_on,
            reference=f"NORTHLIGHT {paid.number}",
        )

    def handle(self, *args, **options):
        User = get_user_model()
        self.cast = cast = CASTS[options["cast"]]
        if User.objects.filter(username="admin").exists():
            self.stdout.write("demo trust already seeded")
            self._print_logins()
            return
        if not options["any_database"]:
            require_embedded_default("seed_demo makes public demo logins")
        real_now = timezone.now()
        month = lambda back: _month_start(real_now, back)  # noqa: E731
        enrolment = month(5) + timedelta(days=2, hours=9)
        total = 5 + 4 if cast.studio else 4
        steps = tqdm(total=total, unit="step", file=self.stderr._out, disable=options["verbosity"] == 0)
        staff = None
        with story_clock(enrolment, real_now) as clock:
            admin, members, assets = self._enrol(clock, enrolment)
            steps.update()
            terms, crowd_terms = self._curate(clock, admin, assets, enrolment)
            steps.update()
            if cast.studio:
                clock.at(enrolment + timedelta(days=10, hours=2))
                name, email = cast.studio
                studio = licensing.studio_create(actor=admin, name=name)
                licensing.studio_add_staff(
                    actor=admin, studio=studio, username="studio", password=DEMO_PASSWORD, email=email
                )
                staff = User.objects.get(username="studio")
                steps.update()
                self._months(clock, admin, staff, terms, assets, month, steps)
                # Something for the administrator to decide: a request made near the end of last month.
                clock.at(month(1) + timedelta(days=27, hours=15))
                licensing.lease_request(
                    actor=staff, terms=crowd_terms, purpose="Stadium crowd shots for 'Final Whistle'"
                )
            # Something for a member to answer: one registers footage naming another (Alex, the
            # `member` login), who has not accepted yet, so it is in no dataset and cannot be licensed.
            clock.at(month(1) + timedelta(days=27, hours=17))
            kind, title, shares = cast.named_by_a_member
            registrant = members[next(iter(shares))].user
            self._asset(registrant, members, kind, title, shares)
            # This month's period, opened early this morning (or as early as the month allows).
            clock.at(month(0) + min(timedelta(hours=8), (real_now - month(0)) / 2))
            payouts.period_create(
                actor=admin, start=month(0), end=(month(0) + timedelta(days=32)).replace(day=1)
            )
            steps.update()
        # A login's date_joined defaults to the real clock (Django binds it at import): align it.
        for user in User.objects.filter(member__isnull=False).select_related("member"):
            User.objects.filter(pk=user.pk).update(date_joined=user.member.created_at)
        User.objects.filter(pk=admin.pk).update(date_joined=enrolment)
        if staff is not None:
            User.objects.filter(pk=staff.pk).update(date_joined=staff.studio_staff.created_at)
        steps.update()
        steps.close()
        self.stdout.write(self.style.SUCCESS("demo trust seeded"))
        self._print_logins()

    def _enrol(self, clock, enrolment):
        User = get_user_model()
        with transaction.atomic():
            domain = self.cast.email_domain
            admin = User.objects.create_superuser("admin", f"admin@{domain}", DEMO_PASSWORD)
            # The rates the trust starts with: in force before any period they price.
            clock.at(enrolment + timedelta(minutes=10))
            payouts.rates_set(actor=admin, admin_fee_bps=1000, pension_bps=500)
            members = {}
            for index, (username, number, name, listed) in enumerate(self.cast.members):
                clock.at(enrolment + timedelta(minutes=30 + 20 * index))
                members[username] = trust.member_enrol(
                    actor=admin,
                    username=username,
                    password=DEMO_PASSWORD,
                    email=f"{username}@{domain}",
                    member_number=number,
                    display_name=name,
                    listed_publicly=listed,
                )
        clock.at(enrolment + timedelta(days=1, hours=2))
        for username, iban in self.cast.bank_accounts.items():
            member = members[username]
            trust.member_set_bank_account(
                actor=member.user, member=member, iban=iban, current_password=DEMO_PASSWORD
            )
        assets = []
        for index, (kind, title, shares) in enumerate(self.cast.assets):
            clock.at(enrolment + timedelta(days=1, hours=5, minutes=15 * index))
            assets.append(self._asset(admin, members, kind, title, shares))
        clock.at(enrolment + timedelta(days=3, hours=1))
        for username, member in members.items():
            for use in (Use.CAPTURE, Use.TRAINING, Use.REPLICA_PASSIVE):
                trust.consent_grant(actor=member.user, member=member, use=use)
            if username != self.cast.crowd_holdout:  # not every member says yes
                trust.consent_grant(actor=member.user, member=member, use=Use.CROWD_GENERATION)
            clock.at(clock.now() + timedelta(hours=3))
        return admin, members, assets

    def _curate(self, clock, admin, assets, enrolment):
        clock.at(enrolment + timedelta(days=7, hours=1))
        dataset = trust.dataset_create(actor=admin, **self.cast.dataset)
        trust.dataset_add_assets(actor=admin, dataset=dataset, asset_ids=[a.pk for a in assets])
        clock.at(enrolment + timedelta(days=7, hours=3))
        trust.dataset_freeze(actor=admin, dataset=dataset)
        clock.at(enrolment + timedelta(days=8, hours=1))
        terms = licensing.terms_create(
            actor=admin,
            dataset=dataset,
            title=TRAINING_TERMS_TITLE,
            permitted_uses=[Use.TRAINING, Use.REPLICA_PASSIVE],
            duration_days=180,
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
        return terms, crowd_terms

    def _months(self, clock, admin, staff, terms, assets, month, steps):
        """Four months of work on the lease. Each month the administrator opens its period and
        closes the one before; the studio mints that month's token, downloads through the gateway
        and reports its training runs and generated seconds as they happen. Last month has ended
        and is left for the administrator to close."""
        rng = random.Random(2026)
        lease = None
        for back in (4, 3, 2, 1):
            start = month(back)
            clock.at(start + timedelta(hours=8))
            payouts.period_create(actor=admin, start=start, end=month(back - 1))
            if lease is None:
                clock.at(start + timedelta(days=2, hours=11))
                lease = licensing.lease_request(
                    actor=staff,
                    terms=terms,
                    purpose="Background placement model for 'Harbour Lights' season 2",
                )
                clock.at(start + timedelta(days=4, hours=10))
                lease = licensing.lease_approve(actor=admin, lease=lease)
                clock.at(start + timedelta(days=4, hours=14))
            else:
                clock.at(start + timedelta(days=1, hours=9))
                self._studio_pays_last_invoice(
                    admin, paid_on=(start - timedelta(days=2)).date(), whole=back == 2
                )
                payouts.period_close(period_id=Period.objects.get(end=start).pk)
                if back == 2:  # the first payout, once two months of royalties are in
                    clock.at(start + timedelta(days=1, hours=11))
                    payouts.payout_batch_create(
                        actor=admin, execution_date=(start + timedelta(days=3)).date()
                    )
                clock.at(start + timedelta(days=2, hours=9))
            _, secret = lease_tokens.lease_token_mint(
                actor=staff, lease=lease, name=f"render-farm {start:%b %Y}", lifetime=timedelta(days=30)
            )
            for index in range(8):
                at = start + timedelta(
                    days=5 + 3 * index, hours=9 + rng.randint(0, 8), minutes=rng.randint(0, 59)
                )
                clock.at(at)
                asset = rng.choice(assets)
                token = lease_tokens.lease_token_authenticate(secret)
                licensing.gateway_download(token=token, lease_id=lease.pk, asset_id=asset.pk)
                key = f"{start:%Y-%m}:{index}"
                events = [
                    {
                        "event_key": f"run:{key}",
                        "kind": "training_run",
                        "quantity": rng.randint(1, 3),
                        "occurred_at": at,
                    },
                    {
                        "event_key": f"gen:{key}",
                        "kind": "generated_second",
                        "asset": asset.pk,
                        "quantity": rng.randint(60, 900),
                        "occurred_at": at,
                    },
                ]
                licensing.usage_report(token=token, lease_id=lease.pk, events=events)
            steps.update()

    def _asset(self, actor, members, kind, title, shares):
        # Placeholder bytes, deterministic per title, so the demo's hashes are stable.
        data = random.Random(title).randbytes(64 * 1024)
        contributors = [{"member": members[u].pk, "share": s} for u, s in shares.items()]
        asset, _ = trust.asset_create(
            actor=actor,
            kind=kind,
            title=title,
            content_type="application/octet-stream",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            contributors=contributors,
        )
        # The bytes go where a client's upload goes (the staging key); verifying copies them.
        trust.asset_upload_bytes(actor=actor, asset=asset, data=data)
        trust.asset_verify(asset_id=asset.pk)
        return Asset.objects.get(pk=asset.pk)

    def _print_logins(self):
        rows = [
            ("admin", "trust administrator", "/operations/  (Django admin: /admin/)"),
            ("member", f"{self.cast.members[0][2]}, member", "/member/"),
        ]
        if self.cast.studio:
            rows.append(("studio", self.cast.studio[0], "/studio/      (API docs: /api/docs/)"))
        self.stdout.write(
            f"\nDemo logins at /accounts/login/ (password for all: {DEMO_PASSWORD}):\n"
            + "".join(f"  {login:<7} {who:<21} {where}\n" for login, who, where in rows)
        )
