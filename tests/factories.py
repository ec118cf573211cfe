"""Factories for the suite. Rows that carry business rules (consents, leases, tokens) are made
through the services, so tests exercise the same paths as users."""

import hashlib

import factory
from django.contrib.auth import get_user_model

from licensing import services as licensing
from licensing.models import Studio
from trust import services as trust
from trust.models import Asset, Member

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password(PASSWORD)


class AdminFactory(UserFactory):
    is_staff = True
    is_superuser = True


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    user = factory.SubFactory(UserFactory)
    # A range of its own: tests name members M-00001, M-00002... explicitly, and a file run alone
    # starts the sequence at 0.
    member_number = factory.Sequence(lambda n: f"M-9{n:05d}")
    display_name = factory.Faker("name")


def make_studio(*, admin, name: str, staff_username: str) -> tuple[Studio, object]:
    studio = licensing.studio_create(actor=admin, name=name)
    staff = licensing.studio_add_staff(actor=admin, studio=studio, username=staff_username, password=PASSWORD)
    return studio, staff.user


def make_asset(
    *,
    admin,
    contributors: list[tuple[Member, str]],
    data: bytes = b"scan-bytes",
    kind: str = "face_scan",
) -> Asset:
    """An available asset whose bytes are really in the object store, uploaded and verified as
    a client's are (staging key, then copied to the final key)."""
    asset, _ = trust.asset_create(
        actor=admin,
        kind=kind,
        title=f"{kind} {len(data)}b",
        content_type="application/octet-stream",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        contributors=[{"member": m.pk, "share": share} for m, share in contributors],
    )
    trust.asset_upload_bytes(actor=admin, asset=asset, data=data)
    trust.asset_verify(asset_id=asset.pk)
    asset.refresh_from_db()
    return asset


def grant_all(member: Member, *uses: str) -> None:
    for use in ("capture", *uses):
        trust.consent_grant(actor=member.user, member=member, use=use)
