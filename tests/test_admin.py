"""The Django admin is one more caller of the services. Every model registered there is either
read-only (no add, change or delete) or saved through its service: a save writes the service's
audit event, and a value the service refuses is shown as an error with nothing written."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.utils import timezone

from licensing import services as licensing
from licensing.models import LeaseTerms, LeaseToken, Studio, StudioStaff, Takedown
from payouts.models import Period, RateSetting
from tests import factories
from trust import services as trust_services
from trust.models import AssetContributor, AuditEvent, Dataset, DatasetItem, Member, UserToken
from trust.tokens import user_token_mint

pytestmark = pytest.mark.django_db

OUR_APPS = {"trust", "licensing", "payouts", "federation"}
# Registered by Django and django-celery-beat themselves; they hold no rule of ours.
OTHER_APPS = {"auth", "django_celery_beat"}
REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)


def _label(model) -> str:
    return model._meta.label_lower


def _url(model, suffix: str) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/{suffix}"


def _audited(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def _refused(response) -> str:
    """The page after a refused save: the service's reason, shown as an admin error."""
    assert response.status_code == 200
    page = response.content.decode()
    assert "Not saved:" in page or "errornote" in page, page[:2000]
    return page


@pytest.fixture
def site_admin(client, cast):
    client.force_login(cast.admin)
    return client


# What an administrator may write, and through which service. Each case saves once with
# good values (the audit event appears) and once with a value refused (nothing written).


def _member_add(client, cast, world):
    good = {
        "username": "erin",
        "password": "a long enough passphrase",
        "email": "erin@example.org",
        "member_number": "M-00900",
        "display_name": "Erin",
    }
    response = client.post(_url(Member, "add/"), {**good, "username": "frank", "password": "1"}, follow=True)
    assert "Not saved:" in _refused(response)
    assert not Member.objects.filter(member_number="M-00900").exists()
    assert client.post(_url(Member, "add/"), good).status_code == 302
    assert Member.objects.get(member_number="M-00900").user.username == "erin"
    assert _audited("member.enrolled") == 1


def _member_change(client, cast, world):
    alice = cast.alice
    form = {
        "display_name": "Alice Ames",
        "listed_publicly": "on",
        "payout_account_name": "",
        "payout_iban": "not an iban",
        "payout_bic": "",
    }
    response = client.post(_url(Member, f"{alice.pk}/change/"), form, follow=True)
    assert "not a valid bank account" in _refused(response)
    alice.refresh_from_db()
    assert (alice.display_name, alice.listed_publicly, alice.payout_iban) == ("Alice", False, "")
    assert _audited("member.updated") == 0
    form["payout_iban"] = "DE89 3704 0044 0532 0130 00"
    assert client.post(_url(Member, f"{alice.pk}/change/"), form).status_code == 302
    alice.refresh_from_db()
    assert (alice.display_name, alice.listed_publicly) == ("Alice Ames", True)
    assert alice.payout_iban == "DE89370400440532013000"
    assert _audited("member.updated") == 1
    assert _audited("member.bank_account_set") == 1


def _dataset_add(client, cast, world):
    response = client.post(_url(Dataset, "add/"), {"slug": "world", "title": "Again"})
    assert response.status_code == 200  # the slug is taken: the form says so
    assert Dataset.objects.filter(slug="world").count() == 1
    good = {"slug": "voices", "title": "Voices", "description": "Voice recordings"}
    assert client.post(_url(Dataset, "add/"), good).status_code == 302
    assert Dataset.objects.get(slug="voices").title == "Voices"
    assert _audited("dataset.created") == 2  # the world's dataset, then this one


def _dataset_change(client, cast, world):
    extra = factories.make_asset(admin=cast.admin, contributors=[(cast.alice, "1")], data=b"extra")
    url = _url(Dataset, f"{world.dataset.pk}/change/")
    response = client.post(url, {"add_asset_ids": f"{extra.pk}, not-an-id"}, follow=True)
    assert "asset ids must be UUIDs" in _refused(response)
    assert not DatasetItem.objects.filter(dataset=world.dataset, asset=extra).exists()
    added_before = _audited("dataset.assets_added")
    assert client.post(url, {"add_asset_ids": f"{extra.pk}\n"}).status_code == 302
    assert DatasetItem.objects.filter(dataset=world.dataset, asset=extra).exists()
    assert _audited("dataset.assets_added") == added_before + 1


def _studio_add(client, cast, world):
    response = client.post(_url(Studio, "add/"), {"name": "Studio A"})
    assert response.status_code == 200
    assert Studio.objects.filter(name="Studio A").count() == 1
    enrolled = _audited("studio.enrolled")
    assert client.post(_url(Studio, "add/"), {"name": "Studio C"}).status_code == 302
    assert Studio.objects.get(name="Studio C").group.name.startswith("studio:")
    assert _audited("studio.enrolled") == enrolled + 1


def _studiostaff_add(client, cast, world):
    form = {"studio": cast.studio_a.pk, "username": "gina", "password": "1", "email": ""}
    response = client.post(_url(StudioStaff, "add/"), form, follow=True)
    assert "Not saved:" in _refused(response)
    assert not StudioStaff.objects.filter(user__username="gina").exists()
    form["password"] = "a long enough passphrase"
    assert client.post(_url(StudioStaff, "add/"), form).status_code == 302
    staff = StudioStaff.objects.get(user__username="gina")
    assert staff.studio == cast.studio_a
    assert staff.user.groups.filter(pk=cast.studio_a.group_id).exists()
    assert _audited("studio.staff_added") >= 1


def _leaseterms_add(client, cast, world):
    form = {
        "dataset": world.dataset.pk,
        "title": "Voice work",
        "permitted_uses": ["voice_synthesis"],
        "duration_days": 10,
        "flat_fee_cents": 500,
        "price_per_download_cents": 1,
        "price_per_training_run_cents": 0,
        "price_per_generated_second_cents": 2,
        "download_cap": "",
        # The form shows the trust's defaults; an administrator posts them back or changes them.
        "takedown_acknowledge_days": 3,
        "takedown_attest_days": 14,
        "currency": "XXX",
        "active": "on",
    }
    response = client.post(_url(LeaseTerms, "add/"), form, follow=True)
    assert "works in" in _refused(response)
    assert not LeaseTerms.objects.filter(title="Voice work").exists()
    created = _audited("terms.created")
    form["currency"] = world.terms.currency
    assert client.post(_url(LeaseTerms, "add/"), form).status_code == 302
    terms = LeaseTerms.objects.get(title="Voice work")
    assert (terms.permitted_uses, terms.flat_fee_cents) == (["voice_synthesis"], 500)
    assert (terms.takedown_acknowledge_days, terms.takedown_attest_days) == (3, 14)
    assert _audited("terms.created") == created + 1


def _leaseterms_change(client, cast, world):
    url = _url(LeaseTerms, f"{world.terms.pk}/change/")
    # Prices are not fields of the change form: a posted price is ignored, the offer withdrawn.
    assert client.post(url, {"flat_fee_cents": 1}).status_code == 302
    world.terms.refresh_from_db()
    assert (world.terms.active, world.terms.flat_fee_cents) == (False, 1000)
    assert _audited("terms.deactivated") == 1
    assert client.post(url, {"active": "on"}).status_code == 302
    assert _audited("terms.activated") == 1


def _ratesetting_add(client, cast, world):
    response = client.post(
        _url(RateSetting, "add/"), {"admin_fee_bps": 20000, "pension_bps": 100}, follow=True
    )
    assert "admin_fee_bps" in _refused(response)  # the database's limit, checked by the form
    response = client.post(
        _url(RateSetting, "add/"), {"admin_fee_bps": 9000, "pension_bps": 1001}, follow=True
    )
    assert "together must be at most 10000 basis points" in _refused(response)  # the two together
    assert not RateSetting.objects.exists()
    assert (
        client.post(_url(RateSetting, "add/"), {"admin_fee_bps": 900, "pension_bps": 100}).status_code == 302
    )
    assert RateSetting.objects.get().set_by == cast.admin
    assert _audited("rates.set") == 1


def _period_add(client, cast, world):
    form = {"start_0": "2031-02-01", "start_1": "00:00:00", "end_0": "2031-03-01", "end_1": "00:00:00"}
    assert client.post(_url(Period, "add/"), form).status_code == 302
    assert Period.objects.count() == 1
    assert _audited("period.created") == 1
    form["start_0"] = "2031-01-15"
    response = client.post(_url(Period, "add/"), form, follow=True)
    assert "overlaps the period" in _refused(response)
    assert Period.objects.count() == 1
    assert _audited("period.created") == 1


def _consenttext_add(client, cast, world):
    from trust.models import ConsentText

    form = {
        "use": "training",
        "language": "en",
        "effective_at_0": "2020-01-01",
        "effective_at_1": "00:00:00",
        "text": "Studios may train AI models on this data, and must say which.",
    }
    assert client.post(_url(ConsentText, "add/"), form).status_code == 302
    published = ConsentText.objects.get(use="training", version=2)
    assert published.published_by == cast.admin
    assert published.effective_at > timezone.now() - timedelta(minutes=1)  # never back-dated
    assert _audited("consent_text.published") == 1
    response = client.post(_url(ConsentText, "add/"), form, follow=True)
    assert "already the latest version" in _refused(response)
    assert ConsentText.objects.filter(use="training").count() == 2


SERVICE_SAVES = {
    ("trust.consenttext", "add"): _consenttext_add,
    ("trust.member", "add"): _member_add,
    ("trust.member", "change"): _member_change,
    ("trust.dataset", "add"): _dataset_add,
    ("trust.dataset", "change"): _dataset_change,
    ("licensing.studio", "add"): _studio_add,
    ("licensing.studiostaff", "add"): _studiostaff_add,
    ("licensing.leaseterms", "add"): _leaseterms_add,
    ("licensing.leaseterms", "change"): _leaseterms_change,
    ("payouts.ratesetting", "add"): _ratesetting_add,
    ("payouts.period", "add"): _period_add,
}


def test_only_known_apps_register_models_in_the_admin():
    apps = {model._meta.app_label for model in REGISTERED}
    assert apps <= OUR_APPS | OTHER_APPS, apps - OUR_APPS - OTHER_APPS


def _rule_breaks(model, model_admin, request) -> list[str]:
    """What lets an administrator write `model` around its service: a delete button, or an
    add or change form with no service case below that proves it goes through the service."""
    row = model()
    breaks = []
    # No delete button anywhere: rows end through their services (withdrawn, revoked, closed).
    if model_admin.has_delete_permission(request, row):
        breaks.append("delete")
    allowed = {
        "add": model_admin.has_add_permission(request),
        "change": model_admin.has_change_permission(request, row),
    }
    for operation, may in allowed.items():
        if may != ((_label(model), operation) in SERVICE_SAVES):
            breaks.append(f"{operation} allowed={may} without a matching service case")
    return breaks


def _request(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


@pytest.mark.parametrize("model", [m for m in REGISTERED if m._meta.app_label in OUR_APPS], ids=_label)
def test_every_admin_model_is_read_only_or_saved_through_its_service(model, site_admin, world):
    model_admin = admin.site._registry[model]
    request = _request(world.cast.admin)
    assert _rule_breaks(model, model_admin, request) == []
    if not model_admin.has_add_permission(request):
        assert site_admin.get(_url(model, "add/")).status_code == 403
    for operation in ("add", "change"):
        case = SERVICE_SAVES.get((_label(model), operation))
        if case is not None:
            case(site_admin, world.cast, world)


def test_a_model_registered_with_a_plain_model_admin_breaks_the_rule(cast):
    plain = admin.ModelAdmin(Takedown, admin.site)
    assert _rule_breaks(Takedown, plain, _request(cast.admin)) == [
        "delete",
        "add allowed=True without a matching service case",
        "change allowed=True without a matching service case",
    ]


def test_a_contributor_share_cannot_be_changed_in_the_admin(site_admin, world):
    contributor = AssetContributor.objects.get(asset=world.alice_asset)
    url = _url(AssetContributor, f"{contributor.pk}/change/")
    response = site_admin.post(
        url, {"asset": world.alice_asset.pk, "member": world.cast.bob.pk, "share": "0.5"}
    )
    assert response.status_code == 403
    contributor.refresh_from_db()
    assert (contributor.member, contributor.share) == (world.cast.alice, 1)
    assert site_admin.get(url).status_code == 200  # still readable


def test_an_administrator_revokes_a_lease_token_through_the_service(site_admin, world):
    response = site_admin.post(
        _url(LeaseToken, ""),
        {"action": "revoke", "_selected_action": [world.token_a.pk], "index": 0},
        follow=True,
    )
    assert response.status_code == 200
    world.token_a.refresh_from_db()
    assert world.token_a.revoked_at is not None and world.token_a.revoked_by == world.cast.admin
    assert AuditEvent.objects.filter(action="token.revoked", subject_id=str(world.token_a.pk)).exists()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world.secret_a}"}
    assert site_admin.get(f"/api/v1/leases/{world.lease_a.pk}/manifest/", **headers).status_code == 401


def test_an_administrator_revokes_a_user_token_and_it_is_audited(site_admin, cast):
    token, secret = user_token_mint(user=cast.carol)
    site_admin.post(_url(UserToken, ""), {"action": "revoke", "_selected_action": [token.pk], "index": 0})
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="user_token.revoked")
    assert (event.actor_id, event.subject_id) == (cast.admin.pk, str(token.pk))


def test_a_refused_freeze_is_reported_and_the_others_go_ahead(site_admin, world):
    empty = Dataset.objects.create(slug="empty", title="Empty")
    extra = factories.make_asset(admin=world.cast.admin, contributors=[(world.cast.alice, "1")], data=b"new")
    trust_services.dataset_add_assets(actor=world.cast.admin, dataset=world.dataset, asset_ids=[extra.pk])
    response = site_admin.post(
        _url(Dataset, ""),
        {"action": "freeze", "_selected_action": [empty.pk, world.dataset.pk], "index": 0},
        follow=True,
    )
    page = response.content.decode()
    assert "an empty dataset cannot be frozen" in page
    assert world.dataset.versions.count() == 2
    assert not empty.versions.exists()


def test_every_admin_page_of_a_row_opens(site_admin, world):
    licensing.usage_report(
        token=world.token_a,
        lease_id=world.lease_a.pk,
        events=[{"event_key": "e1", "kind": "training_run", "quantity": 1, "occurred_at": timezone.now()}],
    )
    user_token_mint(user=world.cast.carol)
    opened = 0
    for model in REGISTERED:
        row = model._default_manager.order_by("pk").first()
        if model._meta.app_label in OUR_APPS and row is not None:
            response = site_admin.get(_url(model, f"{row.pk}/change/"))
            assert response.status_code == 200, _label(model)
            opened += 1
    assert opened >= 15
