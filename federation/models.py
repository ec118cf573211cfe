"""Peers: the other trusts this one federates with, and how far each side has opted in."""

from django.db import models
from django.db.models import Q


class PeerQuerySet(models.QuerySet):
    def live(self):
        """Both administrators added each other and neither suspended: federated calls flow."""
        return self.filter(
            added_by_us_at__isnull=False,
            added_by_them_at__isnull=False,
            suspended_by_us_at__isnull=True,
            suspended_by_them_at__isnull=True,
        )

    def asking(self):
        """Peers that added us and wait for our administrator to add them back."""
        return self.filter(added_by_us_at__isnull=True, added_by_them_at__isnull=False)


class Peer(models.Model):
    """Another trust, as this trust knows it. Its keys come from its well-known document and are
    kept only once our administrator confirmed their fingerprint (or, before that, to show who is
    asking). The double opt-in is the two `added_*` times; a suspension on either side stops
    every federated call both ways."""

    class State(models.TextChoices):
        ASKING = "asking", "Asks to peer with us"
        WAITING = "waiting", "Waiting for them to add us"
        LIVE = "live", "Live"
        SUSPENDED_BY_US = "suspended_by_us", "Suspended by us"
        SUSPENDED_BY_THEM = "suspended_by_them", "Suspended by them"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    base_url = models.URLField(max_length=300)
    api_url = models.URLField(max_length=300)
    # [{"kid", "alg", "key"}] as the peer published them; `fingerprint` is the one our
    # administrator confirmed (empty until then).
    public_keys = models.JSONField(default=list)
    fingerprint = models.CharField(max_length=64, blank=True)
    added_by_us_at = models.DateTimeField(null=True, blank=True)
    added_by_them_at = models.DateTimeField(null=True, blank=True)
    suspended_by_us_at = models.DateTimeField(null=True, blank=True)
    suspended_by_them_at = models.DateTimeField(null=True, blank=True)
    keys_fetched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PeerQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                name="peer_added_by_us_has_fingerprint",
                condition=Q(added_by_us_at__isnull=True) | ~Q(fingerprint=""),
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.slug})"

    @property
    def state(self) -> "Peer.State":
        if self.suspended_by_us_at:
            return self.State.SUSPENDED_BY_US
        if self.suspended_by_them_at:
            return self.State.SUSPENDED_BY_THEM
        if self.added_by_us_at and self.added_by_them_at:
            return self.State.LIVE
        return self.State.WAITING if self.added_by_us_at else self.State.ASKING

    @property
    def state_label(self) -> str:
        return self.State(self.state).label

    @property
    def is_live(self) -> bool:
        return self.state == self.State.LIVE

    def key_named(self, kid: str) -> str | None:
        return next((k["key"] for k in self.public_keys if k.get("kid") == kid), None)
