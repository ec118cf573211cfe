"""Every role is refused every other role's pages in a real browser: a 403 page that shows
none of the data, or the login page for a visitor who is not signed in."""

import pytest

from licensing import services as licensing
from licensing.models import Lease, Takedown
from payouts.models import Period
from trust.models import Consent

ROLE_PAGES = {
    "member": ["/member/", "/member/assets/", "/member/consent/", "/member/leases/", "/member/statements/"],
    "studio": ["/studio/", "/studio/leases/", "/studio/charges/", "/studio/invoices/"],
    "admin": [
        "/operations/",
        "/operations/leases/",
        "/operations/terms/",
        "/operations/rates/",
        "/operations/datasets/",
        "/operations/periods/",
        "/operations/invoices/",
    ],
}


def _detail_pages() -> dict[str, list[str]]:
    """Pages with ids in their paths, taken from the demo trust."""
    lease = Lease.objects.get(status=Lease.Status.ACTIVE)
    closed = Period.objects.filter(status=Period.Status.CLOSED).first()
    grant = Consent.objects.filter(member__user__username="member", state=Consent.State.GRANTED).first()
    return {
        "member": [
            f"/member/statements/{closed.pk}.csv",
            f"/member/statements/{closed.pk}.pdf",
            f"/member/consent/{grant.pk}/withdraw/",
        ],
        "studio": [f"/studio/leases/{lease.pk}/"],
        "admin": [f"/operations/leases/{lease.pk}/", f"/operations/periods/{closed.pk}/"],
    }


def _all_pages(role: str) -> list[str]:
    return ROLE_PAGES[role] + _detail_pages()[role]


@pytest.mark.parametrize("who", ["member", "studio", "admin"])
def test_a_signed_in_user_gets_403_and_no_data_on_other_roles_pages(browser, demo_trust, who):
    page = browser.sign_in(who)
    for role in ROLE_PAGES:
        if role == who:
            continue
        for path in _all_pages(role):
            response = page.request.get(path) if path.endswith((".csv", ".pdf")) else page.goto(path)
            assert response.status == 403, f"{who} on {path}: {response.status}"
            if not path.endswith((".csv", ".pdf")):
                assert page.get_by_role("heading", level=1).inner_text() == "Not for this account"
                assert page.locator("main table").count() == 0, f"{who} on {path} sees a table"
    browser.screenshot(page, f"{who}-refused")


def test_a_visitor_who_is_not_signed_in_is_sent_to_the_login_page(browser, demo_trust):
    page = browser.open()
    for role in ROLE_PAGES:
        for path in _all_pages(role):
            page.goto(path)
            assert page.url.split("?")[0].endswith("/accounts/login/"), path
            assert page.get_by_label("Username").is_visible()


def test_one_studio_cannot_open_another_studios_lease(browser, demo_trust, django_user_model):
    admin = django_user_model.objects.get(username="admin")
    rival = licensing.studio_create(actor=admin, name="Rival Studios")
    licensing.studio_add_staff(actor=admin, studio=rival, username="rival", password="rival-password-1")
    lease = Lease.objects.get(status=Lease.Status.ACTIVE)
    page = browser.sign_in("rival", "rival-password-1")
    response = page.goto(f"/studio/leases/{lease.pk}/")
    assert response.status == 404
    assert lease.purpose not in page.content()
    page.goto("/studio/leases/")
    assert lease.purpose not in page.content()


def test_one_member_cannot_withdraw_another_members_consent(browser, demo_trust):
    grant = Consent.objects.filter(member__user__username="member", state=Consent.State.GRANTED).first()
    page = browser.sign_in("sam")
    response = page.goto(f"/member/consent/{grant.pk}/withdraw/")
    assert response.status == 404
    status = page.request.post(f"/member/consent/{grant.pk}/withdraw/").status
    assert status in (403, 404)  # no CSRF token from a foreign page, and not Sam's consent either
    assert not Consent.objects.filter(supersedes=grant).exists()
    assert not Takedown.objects.exists()
