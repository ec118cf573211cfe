"""The model register on the pages it changed, at phone width: the public transparency page's
models section, "who used my data" with the models trained on the member's data, and a
withdrawal's confirmation listing the models already trained. axe-core clean, nothing wider
than the phone, and a screenshot of each to look at."""

from django.contrib.auth import get_user_model
from django.utils import timezone

from licensing import services as licensing
from licensing.models import Lease
from tests.browser.conftest import axe_violations, describe
from trust.models import Consent

PHONE = {"width": 390, "height": 844}


def _declare_a_model() -> Lease:
    lease = Lease.objects.active().select_related("version__dataset").order_by("pk").first()
    studio_user = get_user_model().objects.get(username="studio")
    licensing.trained_model_declare(
        actor=studio_user,
        lease=lease,
        name="Northlight Crowd",
        version="2.1",
        purpose="Background crowds for the feature's stadium scenes",
        dataset_versions=[(lease.version.dataset.slug, lease.version.number)],
        training_started_on=timezone.localdate(lease.starts_at),
        training_ended_on=timezone.localdate(),
    )
    return lease


def _fits_a_phone(page, what: str):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{what} is {width} px wide on a 390 px phone"
    found = axe_violations(page)
    assert found == [], f"{what}: {describe(found)}"


def test_the_public_register_lists_the_model_on_a_phone(browser, demo_trust):
    _declare_a_model()
    page = browser.open(viewport=PHONE)
    page.goto("/transparency/")
    section = page.get_by_role("region", name="Models trained on leased data")
    assert "Northlight Crowd" in section.inner_text()
    assert "Northlight Pictures" in section.inner_text()
    _fits_a_phone(page, "/transparency/")
    browser.screenshot(page, "models-register-phone")


def test_a_member_sees_the_models_trained_on_their_data_on_a_phone(browser, demo_trust):
    _declare_a_model()
    page = browser.sign_in("member", viewport=PHONE)
    page.goto("/member/leases/")
    assert page.get_by_role("heading", name="Models trained on your data").is_visible()
    assert "Northlight Crowd" in page.get_by_role("region", name="Models trained on your data").inner_text()
    _fits_a_phone(page, "/member/leases/")
    browser.screenshot(page, "member-models-phone")


def test_a_withdrawal_lists_the_models_already_trained_on_a_phone(browser, demo_trust):
    _declare_a_model()
    grant = (
        Consent.objects.filter(
            member__user__username="member", use="training", state="granted", withdrawal=None
        )
        .order_by("pk")
        .first()
    )
    page = browser.sign_in("member", viewport=PHONE)
    page.goto(f"/member/consent/{grant.pk}/withdraw/")
    region = page.get_by_role("region", name="Models already trained on your data")
    assert "Northlight Crowd" in region.inner_text()
    _fits_a_phone(page, "the withdrawal confirmation")
    browser.screenshot(page, "withdrawal-models-phone")
