"""A second request on terms the studio already leases, or has asked for, warns first."""

import pytest
from django.urls import reverse

from licensing import selectors, services
from licensing.models import Lease

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_terms(world):
    return services.terms_create(
        actor=world.cast.admin,
        dataset=world.dataset,
        title="Crowds",
        permitted_uses=["training"],
        duration_days=5,
    )


def test_the_selector_counts_active_and_waiting_leases_of_the_studio_only(world, other_terms):
    studio = world.cast.studio_a
    assert list(selectors.studio_leases_on_terms(studio, world.terms)) == [world.lease_a]
    waiting = services.lease_request(actor=world.cast.carol, terms=other_terms, purpose="crowds")
    assert list(selectors.studio_leases_on_terms(studio, other_terms)) == [waiting]
    services.lease_cancel(actor=world.cast.carol, lease=waiting)
    assert not selectors.studio_leases_on_terms(studio, other_terms).exists()
    services.lease_revoke(actor=world.cast.admin, lease=world.lease_a)
    assert not selectors.studio_leases_on_terms(studio, world.terms).exists()


def test_a_lease_past_its_end_no_longer_counts(world):
    Lease.objects.filter(pk=world.lease_a.pk).update(ends_at=world.lease_a.starts_at)
    assert not selectors.studio_leases_on_terms(world.cast.studio_a, world.terms).exists()


def test_the_request_page_warns_about_the_active_lease_before_sending(client, world):
    client.force_login(world.cast.carol)
    page = client.get(reverse("studio-request-lease", args=[world.terms.pk])).content.decode()
    assert "Your studio already has 1 lease on these terms" in page
    assert f"Lease #{world.lease_a.pk}</a>:" in page and "active until" in page
    # Studio B's own lease on the same terms is not Studio A's business.
    assert f"Lease #{world.lease_b.pk}" not in page


def test_the_request_page_has_no_warning_for_new_terms(client, world, other_terms):
    client.force_login(world.cast.carol)
    page = client.get(reverse("studio-request-lease", args=[other_terms.pk])).content.decode()
    assert "already has" not in page


def test_a_waiting_request_warns_until_it_is_cancelled(client, world, other_terms):
    client.force_login(world.cast.carol)
    url = reverse("studio-request-lease", args=[other_terms.pk])
    client.post(url, {"purpose": "first"})
    waiting = Lease.objects.get(terms=other_terms)
    assert "waiting for a decision" in client.get(url).content.decode()
    client.post(reverse("studio-lease-cancel", args=[waiting.pk]))
    assert "already has" not in client.get(url).content.decode()
