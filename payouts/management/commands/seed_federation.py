"""The federation part of `make federation`: two demo trusts (each seeded by `seed_demo`, with its
own cast) peered, sharing terms, and one lease over both, active. Run at each trust in turn,
with the other trust's URL and the fingerprint its own administrator reads out (`signing_key
--show` there): every run does what this trust can do now, through the same services the API
calls, and says what it waits for. `deploy/federation.py` runs it at one trust, then the other,
until the lease is active; running it again changes nothing.

What one run does at this trust:
1. adds the peer, keeping its keys only if the fingerprint matches (our half of the double
   opt-in; the peering is live once the other trust's run has added us too);
2. shares the training terms with the peer;
3. once live: fetches the peer's shared offers (what beat does every minute) and sends whatever
   federated lease message is still unsent (the embedded default has no beat);
4. at the studio's home (the trust with the `studio` login): requests the demo lease over this
   trust's training terms and the peer's, as the studio;
5. approves the demo lease's part at this trust, as its administrator (its own rules)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from federation import services as federation
from federation import signed_calls
from federation.models import Peer
from licensing import federated
from licensing import services as licensing
from licensing import tasks as licensing_tasks
from licensing.models import Lease, LeaseTerms, PeerOffer
from trust.errors import DomainError

from .seed_demo import TRAINING_TERMS_TITLE, require_embedded_default

FEDERATED_PURPOSE = "Crowd replacement model over two unions' members for 'Harbour Lights' season 3"


class Command(BaseCommand):
    help = (
        "Peer this demo trust with another, share terms and bring the demo's federated lease to "
        "active (embedded default only; run at each trust in turn)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--peer-url", required=True, help="the other trust's base URL")
        parser.add_argument(
            "--peer-fingerprint",
            required=True,
            help="the SHA-256 fingerprint of the other trust's key, as its administrator reads it out",
        )

    def handle(self, *args, peer_url: str, peer_fingerprint: str, **options):
        require_embedded_default("seed_federation approves a lease with the demo's public logins")
        User = get_user_model()
        admin = User.objects.filter(username="admin", is_superuser=True).first()
        if admin is None:
            raise CommandError("seed this trust first: manage.py seed_demo")
        try:
            peer = self._peer(admin, peer_url.rstrip("/"), peer_fingerprint)
            self._share(admin, peer)
            if not peer.is_live:
                self._say(f"waiting for {peer.slug}'s administrator to add this trust")
                return
            offers = licensing.peer_offers_refresh(peer=peer)
            licensing_tasks.resend_federated_lease_messages()
            staff = User.objects.filter(username="studio", studio_staff__isnull=False).first()
            if staff is not None:
                self._request(staff, peer)
            self._approve(admin, peer)
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.detail}") from error
        self._say(f"{offers} offer(s) of {peer.slug} fetched; {self._where_the_lease_stands(peer)}")

    def _say(self, line: str) -> None:
        self.stdout.write(f"{settings.TRUST_SLUG}: {line}")

    def _peer(self, admin, url: str, fingerprint: str) -> Peer:
        document = signed_calls.fetch_well_known(url)
        peer = Peer.objects.filter(slug=document["slug"]).first()
        if peer is None or peer.added_by_us_at is None:
            peer = federation.peer_add(actor=admin, url=url, fingerprint=fingerprint)
            self._say(f"added {peer.slug} at {url}, fingerprint checked")
        elif peer.base_url != url:
            raise CommandError(
                f"this trust is peered with {peer.slug} at {peer.base_url}, not {url}: serve it there "
                "again (the same PORT), or start both trusts over from empty var/ directories"
            )
        peer.refresh_from_db()
        return peer

    def _share(self, admin, peer: Peer) -> None:
        terms = LeaseTerms.objects.filter(title=TRAINING_TERMS_TITLE, active=True).order_by("pk").first()
        if terms is None:
            raise CommandError(f"no active terms {TRAINING_TERMS_TITLE!r} here: seed_demo makes them")
        shared = list(terms.shared_with.all())
        if peer not in shared:
            licensing.terms_share(actor=admin, terms=terms, peers=[*shared, peer])
            self._say(f"shares {terms.title!r} with {peer.slug}")

    def _request(self, staff, peer: Peer) -> None:
        """The studio's request over this trust's training terms and the peer's, once."""
        if Lease.objects.filter(purpose=FEDERATED_PURPOSE, parts__peer=peer).exists():
            return
        offer = PeerOffer.objects.filter(peer=peer, title=TRAINING_TERMS_TITLE).first()
        if offer is None:
            self._say(f"waiting for {peer.slug} to share {TRAINING_TERMS_TITLE!r}")
            return
        home_terms = LeaseTerms.objects.filter(title=TRAINING_TERMS_TITLE, active=True).order_by("pk").first()
        lease = federated.federated_lease_request(
            actor=staff,
            purpose=FEDERATED_PURPOSE,
            parts=[
                {"trust": settings.TRUST_SLUG, "terms": home_terms.pk},
                {"trust": peer.slug, "terms": offer.terms_id},
            ],
        )
        self._say(f"{staff.studio_staff.studio.name} requested lease #{lease.pk} over both trusts")

    def _approve(self, admin, peer: Peer) -> None:
        """This trust's part of the demo lease: the lease itself at home, the forwarded part here."""
        mine = Q(parts__peer=peer) | Q(inbound_part__peer=peer)
        for lease in Lease.objects.filter(mine, purpose=FEDERATED_PURPOSE, status=Lease.Status.REQUESTED):
            licensing.lease_approve(actor=admin, lease=lease)
            self._say(f"the administrator approved this trust's part (lease #{lease.pk})")

    def _where_the_lease_stands(self, peer: Peer) -> str:
        home = Lease.objects.filter(purpose=FEDERATED_PURPOSE, parts__peer=peer).first()
        if home is not None:
            parts = ", ".join(
                f"{part.peer.slug if part.peer_id else settings.TRUST_SLUG} {part.status}"
                for part in home.parts.select_related("peer").order_by("pk")
            )
            return f"federated lease #{home.pk} is {home.status} ({parts})"
        part = Lease.objects.filter(purpose=FEDERATED_PURPOSE, inbound_part__peer=peer).first()
        if part is not None:
            return f"the part of {peer.slug}'s lease here is lease #{part.pk}, {part.status}"
        return "no federated lease yet"
