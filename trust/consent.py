"""The consent vocabulary, in one place: the uses a member may consent to, their labels and
display order, which of them are licensable and which generate media, which version of the
text a member agrees to for each is in force (the texts themselves are `ConsentText` records)
and how it is hashed, and what makes a grant active. Models,
services, selectors, forms, serializers, pages and the seed all ask this module."""

import hashlib
from collections.abc import Collection, Iterable
from datetime import datetime

from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet


class Use(models.TextChoices):
    """What a member may consent to. `capture` is the first opt-in; the rest are per-use grants.
    The order of the members is the order every page lists uses in."""

    CAPTURE = "capture", "Capture: the trust may hold this data"
    TRAINING = "training", "Training AI models"
    REPLICA_ACTIVE = "replica_active", "Digital replica: new lines or actions"
    REPLICA_PASSIVE = "replica_passive", "Digital replica: touch-ups, background placement"
    VOICE_SYNTHESIS = "voice_synthesis", "Voice synthesis"
    CROWD_GENERATION = "crowd_generation", "Crowd generation"


# The first opt-in: without an active capture grant no other grant applies.
FIRST_OPT_IN = Use.CAPTURE
# Uses a lease may permit: every use but the first opt-in.
LICENSABLE_USES: list[Use] = [use for use in Use if use != FIRST_OPT_IN]
LICENSABLE_USE_VALUES: list[str] = [use.value for use in LICENSABLE_USES]
# Uses under which a studio may report generated seconds.
GENERATION_USES: frozenset[str] = frozenset(
    {Use.REPLICA_ACTIVE, Use.REPLICA_PASSIVE, Use.VOICE_SYNTHESIS, Use.CROWD_GENERATION}
)
# The use under which a studio may report training runs.
TRAINING_USE = Use.TRAINING

_ORDER = {use.value: index for index, use in enumerate(Use)}
# A page lists uses on each of its rows: one lookup, not the choices rebuilt per call.
_LABELS = {use.value: use.label for use in Use}


class CapPer(models.TextChoices):
    """What a grant's cap counts over (README: Quotas by consent category): the use made under
    one lease, or under all leases in one calendar year (UTC) of the usage."""

    LEASE = "lease", "per lease"
    YEAR = "year", "per year"


def cap_unit(use: str) -> str:
    """What a cap of `use` counts: training runs for training, generated seconds for the rest."""
    return "training runs" if use == TRAINING_USE else "generated seconds"


# The language of consent texts when a caller names none.
DEFAULT_LANGUAGE = "en"


def notice_sha256(*, terms_version: str, text: str) -> str:
    """The hash of what a member was shown: the terms version, a newline, the use's text. Stored
    on each text version and on every decision made under it."""
    return hashlib.sha256(f"{terms_version}\n{text}".encode()).hexdigest()


def is_use(value) -> bool:
    return isinstance(value, str) and value in _ORDER


def use_label(value: str) -> str:
    """The label members see for a use; an unknown value is shown as it is."""
    return _LABELS[value] if is_use(value) else str(value)


def in_use_order(values: Iterable[str]) -> list[str]:
    """The given uses, deduplicated, in display order (unknown values last, alphabetically)."""
    return sorted(set(values), key=lambda value: (_ORDER.get(value, len(_ORDER)), value))


def is_first_opt_in(value: str) -> bool:
    return value == FIRST_OPT_IN


def permits_training(uses: Iterable[str]) -> bool:
    return TRAINING_USE in set(uses)


def permits_generation(uses: Iterable[str]) -> bool:
    return bool(GENERATION_USES & set(uses))


def current_texts(*, language: str = DEFAULT_LANGUAGE, at: datetime | None = None) -> dict:
    """The text version in force at `at` (default now) for each use in `language`: the highest
    version whose effective date has come, as {use: ConsentText}. One query over a handful of
    rows (uses times versions), read in version order so the last one of each use wins."""
    from django.utils import timezone

    from .models import ConsentText

    rows = ConsentText.objects.filter(language=language, effective_at__lte=at or timezone.now())
    return {row.use: row for row in rows.order_by("version")}


def current_text(use: str, *, language: str = DEFAULT_LANGUAGE, at: datetime | None = None):
    """The text a member is shown now for `use`, or None when none is published in `language`."""
    return current_texts(language=language, at=at).get(getattr(use, "value", use))


def active_grants(
    *,
    use: str | Collection[str],
    at: datetime,
    as_if_withdrawn: int | None = None,
    as_if_in_force: int | None = None,
) -> QuerySet:
    """What "active" means for a grant: grants for `use` made by `at`, neither withdrawn nor
    re-confirmed under a newer text by `at` (the re-confirming grant is then the active one).
    Refusals are never grants: only rows in state `granted` are counted.
    A preview may ask "what if": `as_if_withdrawn` names a grant to count as withdrawn, and
    `as_if_in_force` one whose withdrawal (if any) is not counted."""
    # Imported here because trust.models takes its choices from this module.
    from .models import Consent

    withdrawn = Consent.objects.filter(supersedes=OuterRef("pk"), created_at__lte=at)
    reconfirmed = Consent.objects.filter(reconfirms=OuterRef("pk"), created_at__lte=at)
    if as_if_in_force is not None:
        withdrawn = withdrawn.exclude(supersedes_id=as_if_in_force)
    # Several uses at once (`use` a collection) for a question about every use in one query.
    by_use = {"use": use} if isinstance(use, str) else {"use__in": list(use)}
    grants = Consent.objects.filter(**by_use, state=Consent.State.GRANTED, created_at__lte=at)
    if as_if_withdrawn is not None:
        grants = grants.exclude(pk=as_if_withdrawn)
    return grants.exclude(Exists(withdrawn)).exclude(Exists(reconfirmed))


def standing_refusals(*, at: datetime | None = None) -> QuerySet:
    """Refusals still standing at `at` (default now): a refusal stands until a later grant of the
    same use by the same member covers its scope (that asset, or all assets). A refusal never
    makes anything licensable; this only says what a member has said no to."""
    from django.utils import timezone

    from .models import Consent

    at = at or timezone.now()
    later_grants = Consent.objects.filter(
        member=OuterRef("member"),
        use=OuterRef("use"),
        state=Consent.State.GRANTED,
        created_at__gt=OuterRef("created_at"),
        created_at__lte=at,
    )
    ends_a_refusal_for_all = later_grants.filter(asset__isnull=True)
    ends_a_refusal_for_one = later_grants.filter(Q(asset__isnull=True) | Q(asset=OuterRef("asset")))
    refusals = Consent.objects.filter(state=Consent.State.REFUSED, created_at__lte=at)
    return refusals.filter(
        (Q(asset__isnull=True) & ~Exists(ends_a_refusal_for_all))
        | (Q(asset__isnull=False) & ~Exists(ends_a_refusal_for_one))
    )
