"""Corrections through the API: the lease token's usage report with `corrects`, an
administrator's corrections, every refusal as the studio meets it, and the credit notes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.models import UsageCorrection, UsageEvent
from payouts import services
from payouts.models import CreditNote
from tests.conftest import bearer_client
from tests.payouts.correction_refusals import REFUSED_CORRECTIONS, fix, gateway_download, other_events

pytestmark = pytest.mark.django_db


def _usage(world, *events, secret=None):
    return bearer_client(secret or world.secret_a).post(
        f"/api/v1/leases/{world.lease_a.pk}/usage/", {"events": list(events)}, format="json"
    )


def _run(key, quantity=5):
    return {
        "event_key": key,
        "kind": "training_run",
        "quantity": quantity,
        "occurred_at": timezone.now().isoformat(),
    }


def test_a_studio_corrects_its_report_with_the_lease_token(world):
    assert _usage(world, _run("u1")).status_code == 202
    response = _usage(world, fix("c1", "u1", -2))
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    row = UsageCorrection.objects.get()
    assert (row.corrects_key, row.quantity, row.kind, row.source) == ("u1", -2, "training_run", "report")
    assert row.token_id == world.token_a.pk
    # The original is never rewritten.
    assert UsageEvent.objects.get(event_key="u1").quantity == 5


def test_a_negative_quantity_without_corrects_is_a_400(world):
    response = _usage(world, {**_run("u1"), "quantity": -2})
    assert response.status_code == 400
    assert response.json()["errors"]["events"][0]["quantity"][0].startswith("A negative quantity is only")
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize(("refused", "status", "code"), REFUSED_CORRECTIONS)
def test_refused_corrections_are_clear_errors_and_write_nothing(world, refused, status, code):
    _usage(world, _run("u1"), fix("c1", "u1", -2))
    other_events(world, at=timezone.now())
    response = _usage(world, _run("u2"), refused)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert "events[1]" in response.json()["detail"]
    assert UsageCorrection.objects.count() == 1
    assert not UsageEvent.objects.filter(event_key="u2").exists()


def test_an_administrator_corrects_a_gateway_download(world, as_user):
    gateway_download(world, at=timezone.now())
    body = {"events": [{**fix("c1", "gw", -1), "reason": "the delivery failed"}]}
    path = f"/api/v1/leases/{world.lease_a.pk}/usage/corrections/"
    response = as_user(world.cast.admin).post(path, body, format="json")
    assert response.status_code == 201
    assert response.json() == {"accepted": 1, "duplicates": 0}
    assert as_user(world.cast.admin).post(path, body, format="json").json() == {
        "accepted": 0,
        "duplicates": 1,
    }
    row = UsageCorrection.objects.get()
    assert (row.source, row.recorded_by_id, row.reason) == (
        "admin",
        world.cast.admin.pk,
        "the delivery failed",
    )
    # Every event of an administrator's corrections names what it corrects.
    refused = as_user(world.cast.admin).post(path, {"events": [_run("u9")]}, format="json")
    assert refused.status_code == 400
    assert as_user(world.cast.carol).post(path, body, format="json").status_code == 403


def _credit_note(world):
    start, now = world.lease_a.starts_at, timezone.now()
    middle = start + (now - start) / 2
    p1 = services.period_create(actor=world.cast.admin, start=start - timedelta(hours=1), end=middle)
    p2 = services.period_create(actor=world.cast.admin, start=middle, end=now)
    _usage(world, {**_run("u1", 4), "occurred_at": (start + (middle - start) / 2).isoformat()})
    services.period_close(period_id=p1.pk)
    assert _usage(world, fix("c1", "u1", -3)).status_code == 202
    services.period_close(period_id=p2.pk)
    return CreditNote.objects.get()


def test_credit_notes_are_listed_and_downloadable_by_their_studio_and_administrators(world, as_user):
    note = _credit_note(world)
    carol, dave, admin = as_user(world.cast.carol), as_user(world.cast.dave), as_user(world.cast.admin)
    listed = carol.get("/api/v1/credit-notes/").json()["results"]
    assert [(n["number"], n["kind"], n["total_cents"]) for n in listed] == [(note.number, "credit_note", 300)]
    line = listed[0]["lines"][0]
    assert (line["quantity"], line["unit_price_cents"], line["amount_cents"]) == (3, 100, 300)
    assert line["original_invoice"].startswith("GUILDTRUST-")
    assert dave.get("/api/v1/credit-notes/").json()["results"] == []
    assert len(admin.get("/api/v1/credit-notes/").json()["results"]) == 1
    pdf = carol.get(f"/api/v1/credit-notes/{note.pk}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    csv = carol.get(f"/api/v1/credit-notes/{note.pk}/csv/")
    assert csv.status_code == 200
    assert note.number in csv.content.decode() and "total_credited" in csv.content.decode()
    assert dave.get(f"/api/v1/credit-notes/{note.pk}/pdf/").status_code == 404


def test_the_schema_describes_corrections_and_credit_notes(world, as_user):
    schema = (
        as_user(world.cast.admin).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    )
    paths = schema["paths"]
    assert "/api/v1/credit-notes/" in paths
    assert "/api/v1/leases/{lease_id}/usage/corrections/" in paths
    # A report's event is one of three shapes: usage, a saving, or a correction naming its event.
    shapes = schema["components"]["schemas"]["ReportedUsageEventRequest"]["oneOf"]
    assert {"#/components/schemas/UsageCorrectionInputRequest"} <= {shape["$ref"] for shape in shapes}
    correction = schema["components"]["schemas"]["UsageCorrectionInputRequest"]
    assert set(correction["required"]) == {"event_key", "corrects", "quantity"}


def test_the_invoice_pages_list_the_credit_notes_with_their_documents(
    world, client, django_assert_max_num_queries
):
    note = _credit_note(world)
    client.force_login(world.cast.carol)
    with django_assert_max_num_queries(20):
        page = client.get("/studio/invoices/").content.decode()
    assert note.number in page and "3.00" in page
    assert client.get(f"/studio/credit-notes/{note.pk}/pdf/").content.startswith(b"%PDF")
    client.force_login(world.cast.dave)
    assert note.number not in client.get("/studio/invoices/").content.decode()
    assert client.get(f"/studio/credit-notes/{note.pk}/csv/").status_code == 404
    client.force_login(world.cast.admin)
    assert note.number in client.get("/operations/invoices/").content.decode()
    assert client.get(f"/operations/credit-notes/{note.pk}/csv/").status_code == 200
