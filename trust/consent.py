"""The consent vocabulary, in one place: the uses a member may consent to, their labels and
display order, which of them are licensable and which generate media, the plain-language
text a member agrees to for each (and its hash), and what makes a grant active. Models,
services, selectors, forms, serializers, pages and the seed all ask this module."""

import hashlib
from collections.abc import Iterable
from datetime import datetime

from django.db import models
from django.db.models import Exists, OuterRef, QuerySet


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

# The plain-language text a member agrees to, per use. Its hash is stored with each grant so
# what was shown can be proven later.
CONSENT_TEXT = {
    Use.CAPTURE: "The trust may hold this data in encrypted storage and list it in datasets. "
    "Nothing is licensed for any use without a further grant.",
    Use.TRAINING: "Studios that lease a dataset including this data may train AI models on it.",
    Use.REPLICA_ACTIVE: "Studios may make a digital replica that performs new lines or actions.",
    Use.REPLICA_PASSIVE: "Studios may use a digital replica for touch-ups and background placement.",
    Use.VOICE_SYNTHESIS: "Studios may synthesise speech in this voice.",
    Use.CROWD_GENERATION: "Studios may generate crowds that include this likeness.",
}


def is_use(value) -> bool:
    return value in Use.values


def use_label(value: str) -> str:
    """The label members see for a use; an unknown value is shown as it is."""
    return Use(value).label if is_use(value) else str(value)


def in_use_order(values: Iterable[str]) -> list[str]:
    """The given uses, deduplicated, in display order (unknown values last, alphabetically)."""
    return sorted(set(values), key=lambda value: (_ORDER.get(value, len(_ORDER)), value))


def is_first_opt_in(value: str) -> bool:
    return value == FIRST_OPT_IN


def permits_training(uses: Iterable[str]) -> bool:
    return TRAINING_USE in set(uses)


def permits_generation(uses: Iterable[str]) -> bool:
    return bool(GENERATION_USES & set(uses))


def consent_text(use: str) -> str:
    return CONSENT_TEXT[Use(use)]


def consent_text_sha256(use: str, terms_version: str) -> str:
    """The hash stored with a grant: the terms version and the text shown for the use."""
    return hashlib.sha256(f"{terms_version}\n{consent_text(use)}".encode()).hexdigest()


def active_grants(
    *, use: str, at: datetime, as_if_withdrawn: int | None = None, as_if_in_force: int | None = None
) -> QuerySet:
    """What "active" means for a grant: grants for `use` made by `at` and not withdrawn by `at`.
    A preview may ask "what if": `as_if_withdrawn` names a grant to count as withdrawn, and
    `as_if_in_force` one whose withdrawal (if any) is not counted."""
    # Imported here because trust.models takes its choices from this module.
    from .models import Consent

    withdrawn = Consent.objects.filter(supersedes=OuterRef("pk"), created_at__lte=at)
    if as_if_in_force is not None:
        withdrawn = withdrawn.exclude(supersedes_id=as_if_in_force)
    grants = Consent.objects.filter(use=use, state=Consent.State.GRANTED, created_at__lte=at)
    if as_if_withdrawn is not None:
        grants = grants.exclude(pk=as_if_withdrawn)
    return grants.exclude(Exists(withdrawn))
