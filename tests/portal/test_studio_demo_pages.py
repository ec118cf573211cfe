"""The studio portal on the demo trust: charges over closed periods and the demo studio's
leases. The demo is seeded once for this module (see `seeded_demo` in tests/conftest.py)."""

import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from licensing import selectors
from licensing.models import Lease, LeaseTerms
from payouts.selectors import studio_charges
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
    periods = response.context["periods"]
    assert len(periods) == len(api) == 3
    assert [p["total_cents"] for p in periods] == [p["total_cents"] for p in api]
    assert periods == [
        {**p, "last_day": p["end"] - timezone.timedelta(microseconds=1)}
        for p in studio_charges(selectors.studio_of(studio_user))
    ]
    text = _text(response)
    total = sum(p["total_cents"] for p in api)
    assert f"Charged, all closed periods {money(total)} USD" in text
    for period in api:
        assert f"Period total {money(period['total_cents'])} USD" in text
        for line in period["leases"]:
            assert (
                f"Lease {line['lease']} {line['dataset']} {money(line['flat_fee_cents'])} "
                f"{money(line['usage_cents'])} {money(line['total_cents'])}"
            ) in text


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
