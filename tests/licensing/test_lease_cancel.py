"""A studio cancels its own pending request: the service, the API and the page."""

import pytest
from django.urls import reverse

from licensing import services
from licensing.models import Lease
from trust.errors import Conflict, Forbidden, NotFound
from trust.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(world) -> Lease:
    return services.lease_request(actor=world.cast.carol, terms=world.terms, purpose="A's second model")


def test_the_requesting_studio_cancels_its_pending_request_and_it_is_audited(world, pending):
    cancelled = services.lease_cancel(actor=world.cast.carol, lease=pending)
    assert Lease.objects.get(pk=pending.pk).status == Lease.Status.CANCELLED
    assert cancelled.decided_by == world.cast.carol
    event = AuditEvent.objects.filter(action="lease.cancelled").get()
    assert event.actor_id == world.cast.carol.pk


def test_another_studio_cannot_cancel_and_nothing_changes(world, pending):
    with pytest.raises(NotFound):
        services.lease_cancel(actor=world.cast.dave, lease=pending)
    assert Lease.objects.get(pk=pending.pk).status == Lease.Status.REQUESTED


def test_an_administrator_cannot_cancel_for_a_studio(world, pending):
    with pytest.raises(Forbidden):
        services.lease_cancel(actor=world.cast.admin, lease=pending)
    assert Lease.objects.get(pk=pending.pk).status == Lease.Status.REQUESTED


def test_a_decided_lease_cannot_be_cancelled(world):
    with pytest.raises(Conflict):
        services.lease_cancel(actor=world.cast.carol, lease=world.lease_a)
    assert Lease.objects.get(pk=world.lease_a.pk).status == Lease.Status.ACTIVE
    assert not AuditEvent.objects.filter(action="lease.cancelled").exists()


def test_a_cancelled_request_can_no_longer_be_approved(world, pending):
    services.lease_cancel(actor=world.cast.carol, lease=pending)
    with pytest.raises(Conflict):
        services.lease_approve(actor=world.cast.admin, lease=pending)


# --- API -------------------------------------------------------------------------------------


def test_the_api_cancels_a_pending_request(world, pending, as_user):
    response = as_user(world.cast.carol).post(f"/api/v1/leases/{pending.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert Lease.objects.get(pk=pending.pk).status == Lease.Status.CANCELLED


def test_the_api_hides_another_studios_request(world, pending, as_user):
    response = as_user(world.cast.dave).post(f"/api/v1/leases/{pending.pk}/cancel/")
    assert response.status_code == 404
    assert response.json()["code"] == "lease_not_found"
    assert Lease.objects.get(pk=pending.pk).status == Lease.Status.REQUESTED


def test_the_api_refuses_an_administrator(world, pending, as_user):
    response = as_user(world.cast.admin).post(f"/api/v1/leases/{pending.pk}/cancel/")
    assert response.status_code == 403
    assert Lease.objects.get(pk=pending.pk).status == Lease.Status.REQUESTED


def test_the_api_answers_409_for_a_lease_already_decided(world, as_user):
    response = as_user(world.cast.carol).post(f"/api/v1/leases/{world.lease_a.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["code"] == "lease_not_requested"


# --- Page ------------------------------------------------------------------------------------


def test_the_lease_page_offers_cancelling_a_request_only_while_it_waits(client, world, pending):
    client.force_login(world.cast.carol)
    cancel_url = reverse("studio-lease-cancel", args=[pending.pk])
    assert cancel_url in client.get(reverse("studio-lease", args=[pending.pk])).content.decode()
    active_page = client.get(reverse("studio-lease", args=[world.lease_a.pk])).content.decode()
    assert reverse("studio-lease-cancel", args=[world.lease_a.pk]) not in active_page


def test_the_page_asks_for_confirmation_then_cancels(client, world, pending):
    client.force_login(world.cast.carol)
    url = reverse("studio-lease-cancel", args=[pending.pk])
    question = client.get(url)
    assert question.status_code == 200
    assert "Confirm: cancel this request" in question.content.decode()
    assert Lease.objects.get(pk=pending.pk).status == Lease.Status.REQUESTED
    done = client.post(url, follow=True)
    assert Lease.objects.get(pk=pending.pk).status == Lease.Status.CANCELLED
    page = done.content.decode()
    assert "request cancelled" in page and "Cancelled" in page


def test_the_page_refuses_cancelling_a_decided_lease_with_a_message(client, world):
    client.force_login(world.cast.carol)
    response = client.post(reverse("studio-lease-cancel", args=[world.lease_a.pk]), follow=True)
    assert "only a requested lease can be cancelled" in response.content.decode()
    assert Lease.objects.get(pk=world.lease_a.pk).status == Lease.Status.ACTIVE


def test_another_studios_request_has_no_cancel_page(client, world, pending):
    client.force_login(world.cast.dave)
    assert client.get(reverse("studio-lease-cancel", args=[pending.pk])).status_code == 404
    assert client.post(reverse("studio-lease-cancel", args=[pending.pk])).status_code == 404
    assert Lease.objects.get(pk=pending.pk).status == Lease.Status.REQUESTED
