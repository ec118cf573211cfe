"""The studio portal on the demo trust: charges over closed periods and the demo studio's
leases. The demo is seeded once for this module (see `seeded_demo` in tests/conftest.py)."""

import re
from html import unescape

import pytest
from django.urls import reverse

from licensing import selectors
from licensing.models import Lease, LeaseTerms
from trust.templatetags.portal import money

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    """The page as a person reads it: tags stripped, whitespace collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.fixture
def demo(seeded_demo):
    return seeded_demo


def test_the_charges_page_shows_the_figures_of_the_charges_api(client, demo, django_user_model):
    studio_user = django_user_model.objects.get(username="studio")
    client.force_login(studio_user)
    api = client.get("/api/v1/charges/").json()["results"]
    response = client.get(reverse("studio-charges"))
    assert response.status_code == 200
    assert len(api) == response.context["periods"] == 3
    lines = [line for period in api for line in period["leases"]]
    assert response.context["listing"].total == len(lines)
    text = _text(response)
    total = sum(p["total_cents"] for p in api)
    assert f"Charged, all closed periods {money(total)} USD" in text
    assert f"Latest period {money(api[0]['total_cents'])} USD" in text
    for line in lines:
        assert f"Lease #{line['lease']} {line['dataset']} " in text
        assert (
            f"{money(line['flat_fee_cents'])} {money(line['usage_cents'])} {money(line['total_cents'])}"
        ) in text
    latest = client.get(reverse("studio-charges"), {"period": api[0]["period"]})
    assert latest.context["listing"].total == len(api[0]["leases"])
    assert re.search(rf"matching charges? {re.escape(money(api[0]['total_cents']))}", _text(latest))


def test_the_demo_studio_sees_its_active_and_requested_leases(client, demo, django_user_model):
    client.force_login(django_user_model.objects.get(username="studio"))
    response = client.get(reverse("studio-leases"))
    assert sorted(lease.status for lease in response.context["listing"].rows) == ["active", "requested"]
    active = Lease.objects.get(status="active")
    page = client.get(reverse("studio-lease", args=[active.pk]))
    usage = selectors.usage_summary(active)
    text = _text(page)
    for label, kind, price in (
        ("Downloads", "download", "0.50"),
        ("Training runs", "training_run", "25.00"),
        ("Generated seconds", "generated_second", "0.02"),
    ):
        assert f"{label} {usage[kind]['events']:,} {usage[kind]['quantity']:,} {price}" in text
    assert LeaseTerms.objects.filter(active=True).count() == len(client.get("/studio/").context["entries"])
