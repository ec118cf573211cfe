"""The invoices API: studio staff see their own, administrators all; documents; payments and
voids over HTTP, with their refusals."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing import services as licensing
from payouts import ledger, services
from payouts.models import Invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed(world):
    licensing.usage_report(
        token=world.token_a,
        lease_id=world.lease_a.pk,
        events=[{"event_key": "r", "kind": "training_run", "quantity": 2, "occurred_at": timezone.now()}],
    )
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    return services.period_close(period_id=period.pk)


def _invoice_of(world, period, studio):
    return Invoice.objects.get(period=period, studio=studio)


def test_studio_staff_list_only_their_own_invoices(world, closed, as_user):
    body = as_user(world.cast.carol).get("/api/v1/invoices/").json()
    assert body["count"] == 1
    (invoice,) = body["results"]
    assert invoice["studio"] == world.cast.studio_a.name
    assert invoice["period"] == closed.pk
    assert (invoice["total_cents"], invoice["paid_cents"], invoice["status"]) == (1200, 0, "open")
    assert invoice["currency"] == "USD"
    assert invoice["overdue"] is False
    assert [
        (line["use"], line["quantity"], line["unit_price_cents"], line["amount_cents"])
        for line in invoice["lines"]
    ] == [
        ("flat_fee", 1, 1000, 1000),
        ("training_run", 2, 100, 200),
    ]


def test_an_administrator_lists_every_studios_invoices(world, closed, as_user):
    body = as_user(world.cast.admin).get("/api/v1/invoices/").json()
    assert {row["studio"] for row in body["results"]} == {world.cast.studio_a.name, world.cast.studio_b.name}


def test_another_studios_invoice_documents_are_not_found(world, closed, as_user):
    theirs = _invoice_of(world, closed, world.cast.studio_b)
    for document in ("pdf", "csv"):
        response = as_user(world.cast.carol).get(f"/api/v1/invoices/{theirs.pk}/{document}/")
        assert response.status_code == 404
        assert response.json()["code"] == "invoice_not_found"


def test_the_studio_downloads_its_invoice_as_pdf_and_csv(world, closed, as_user):
    ours = _invoice_of(world, closed, world.cast.studio_a)
    client = as_user(world.cast.carol)
    pdf = client.get(f"/api/v1/invoices/{ours.pk}/pdf/")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    csv = client.get(f"/api/v1/invoices/{ours.pk}/csv/")
    text = csv.content.decode()
    assert f"invoice,{ours.number}" in text
    assert f"{world.lease_a.pk},training_run,Training runs,2,1.00,2.00" in text
    assert "total,,,,,12.00" in text


def test_a_studio_name_cannot_run_as_a_formula_in_the_csv(world, closed, as_user):
    studio = world.cast.studio_a
    studio.name = "=HYPERLINK(evil)"
    studio.save(update_fields=["name"])
    ours = _invoice_of(world, closed, studio)
    text = as_user(world.cast.carol).get(f"/api/v1/invoices/{ours.pk}/csv/").content.decode()
    assert "studio,'=HYPERLINK(evil)" in text


def test_payments_over_http_partial_then_full_then_over(world, closed, as_user):
    invoice = _invoice_of(world, closed, world.cast.studio_a)
    admin = as_user(world.cast.admin)
    url = f"/api/v1/invoices/{invoice.pk}/payments/"
    today = timezone.localdate().isoformat()
    first = admin.post(url, {"amount_cents": 200, "paid_at": today, "reference": "WIRE 1"}, format="json")
    assert first.status_code == 201
    assert first.json()["amount_cents"] == 200
    over = admin.post(url, {"amount_cents": 1001, "paid_at": today, "reference": "WIRE 2"}, format="json")
    assert over.status_code == 422
    assert over.json()["code"] == "over_payment"
    rest = admin.post(url, {"amount_cents": 1000, "paid_at": today, "reference": "WIRE 2"}, format="json")
    assert rest.status_code == 201
    listed = as_user(world.cast.carol).get("/api/v1/invoices/").json()["results"][0]
    assert (listed["paid_cents"], listed["status"]) == (1200, "paid")
    assert ledger.balance_of(f"studio:{world.cast.studio_a.pk}:receivable") == 0
    assert ledger.trial_balance() == 0


def test_a_studio_cannot_record_its_own_payment(world, closed, as_user):
    invoice = _invoice_of(world, closed, world.cast.studio_a)
    response = as_user(world.cast.carol).post(
        f"/api/v1/invoices/{invoice.pk}/payments/",
        {"amount_cents": 1200, "paid_at": timezone.localdate().isoformat(), "reference": "me"},
        format="json",
    )
    assert response.status_code == 403
    invoice.refresh_from_db()
    assert invoice.paid_cents == 0


def test_a_payment_dated_in_the_future_is_refused(world, closed, as_user):
    invoice = _invoice_of(world, closed, world.cast.studio_a)
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = as_user(world.cast.admin).post(
        f"/api/v1/invoices/{invoice.pk}/payments/",
        {"amount_cents": 1, "paid_at": tomorrow, "reference": "x"},
        format="json",
    )
    assert response.status_code == 422


def test_void_over_http_then_a_second_void_conflicts(world, closed, as_user):
    invoice = _invoice_of(world, closed, world.cast.studio_a)
    admin = as_user(world.cast.admin)
    response = admin.post(f"/api/v1/invoices/{invoice.pk}/void/", {"reason": "billed twice"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "void"
    again = admin.post(f"/api/v1/invoices/{invoice.pk}/void/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "invoice_not_voidable"


def test_an_invoice_past_its_due_date_is_overdue(world, closed, as_user):
    invoice = _invoice_of(world, closed, world.cast.studio_a)
    Invoice.objects.filter(pk=invoice.pk).update(due_at=timezone.now() - timedelta(days=1))
    listed = as_user(world.cast.carol).get("/api/v1/invoices/").json()["results"][0]
    assert listed["overdue"] is True


def _login(client, who):
    client.force_login(getattr(who, "user", who))
    return client


def test_another_studios_invoice_page_is_not_found(world, closed, client):
    theirs = _invoice_of(world, closed, world.cast.studio_b)
    _login(client, world.cast.carol)
    assert client.get(f"/studio/invoices/{theirs.pk}/").status_code == 404
    assert client.get(f"/studio/invoices/{theirs.pk}/pdf/").status_code == 404
    page = client.get("/studio/invoices/").content.decode()
    assert _invoice_of(world, closed, world.cast.studio_a).number in page
    assert theirs.number not in page


@pytest.mark.parametrize("who", ["alice", "carol"])
def test_only_an_administrator_posts_a_payment_from_the_page(world, closed, client, who):
    invoice = _invoice_of(world, closed, world.cast.studio_a)
    _login(client, getattr(world.cast, who))
    response = client.post(
        f"/operations/invoices/{invoice.pk}/payments/",
        {"amount": "12.00", "paid_at": timezone.localdate().isoformat(), "reference": "x"},
    )
    assert response.status_code == 403
    invoice.refresh_from_db()
    assert invoice.paid_cents == 0


def test_the_administrators_page_records_a_payment_in_currency_units(world, closed, client):
    invoice = _invoice_of(world, closed, world.cast.studio_a)
    _login(client, world.cast.admin)
    response = client.post(
        f"/operations/invoices/{invoice.pk}/payments/",
        {"amount": "12.00", "paid_at": timezone.localdate().isoformat(), "reference": "WIRE"},
    )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.paid_cents, invoice.status) == (1200, "paid")
    over = client.post(
        f"/operations/invoices/{invoice.pk}/payments/",
        {"amount": "0.01", "paid_at": timezone.localdate().isoformat(), "reference": "again"},
    )
    assert over.status_code == 200  # the page again, with the refusal shown
    invoice.refresh_from_db()
    assert invoice.paid_cents == 1200


def test_an_administrator_sets_the_days_to_pay_on_new_terms(world, as_user):
    body = {
        "dataset": world.dataset.pk,
        "title": "Net 14",
        "permitted_uses": ["training"],
        "duration_days": 30,
        "payment_days": 14,
    }
    response = as_user(world.cast.admin).post("/api/v1/terms/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["payment_days"] == 14
    too_long = as_user(world.cast.admin).post("/api/v1/terms/", {**body, "payment_days": 366}, format="json")
    assert too_long.status_code == 400


def test_terms_create_itself_refuses_more_days_to_pay_than_the_limit(world):
    # The one home of the limit: the admin and any other caller of the service meet it too.
    from licensing import services as licensing
    from licensing.models import LeaseTerms
    from trust.errors import Invalid

    with pytest.raises(Invalid) as refused:
        licensing.terms_create(
            actor=world.cast.admin,
            dataset=world.dataset,
            title="Net 400",
            permitted_uses=["training"],
            duration_days=30,
            payment_days=licensing.PAYMENT_DAYS_MAX + 1,
        )
    assert refused.value.code == "bad_payment_days"
    assert not LeaseTerms.objects.filter(title="Net 400").exists()


def test_a_payment_sent_again_with_its_idempotency_key_is_recorded_once(world, closed, as_user):
    invoice = _invoice_of(world, closed, world.cast.studio_a)
    admin = as_user(world.cast.admin)
    url = f"/api/v1/invoices/{invoice.pk}/payments/"
    body = {"amount_cents": 500, "paid_at": timezone.localdate().isoformat(), "reference": "WIRE 7"}
    first = admin.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="pay-7")
    again = admin.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="pay-7")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    invoice.refresh_from_db()
    assert (invoice.paid_cents, invoice.payments.count()) == (500, 1)
    assert ledger.balance_of(f"studio:{world.cast.studio_a.pk}:receivable") == 700
    # The key names one payment: another amount under it is refused, and nothing is written.
    other = admin.post(url, body | {"amount_cents": 600}, format="json", HTTP_IDEMPOTENCY_KEY="pay-7")
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    # Without a key (or with a new one) the same figures are a second payment, as before.
    assert admin.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="pay-8").status_code == 201
    invoice.refresh_from_db()
    assert (invoice.paid_cents, invoice.payments.count()) == (1000, 2)
    too_long = admin.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k" * 201)
    assert too_long.status_code == 422
    assert too_long.json()["code"] == "bad_idempotency_key"


def test_the_payment_form_submitted_twice_records_one_payment(world, closed, client):
    invoice = _invoice_of(world, closed, world.cast.studio_a)
    _login(client, world.cast.admin)
    page = client.get(f"/operations/invoices/{invoice.pk}/")
    key = page.context["payment_form"].initial["idempotency_key"]
    assert f'value="{key}"' in page.content.decode()
    form = {
        "amount": "5.00",
        "paid_at": timezone.localdate().isoformat(),
        "reference": "WIRE",
        "idempotency_key": key,
    }
    assert client.post(f"/operations/invoices/{invoice.pk}/payments/", form).status_code == 302
    assert client.post(f"/operations/invoices/{invoice.pk}/payments/", form).status_code == 302
    invoice.refresh_from_db()
    assert (invoice.paid_cents, invoice.payments.count()) == (500, 1)
    # The page shown again carries a new key: a second payment from it is its own.
    assert (
        client.get(f"/operations/invoices/{invoice.pk}/").context["payment_form"].initial["idempotency_key"]
        != key
    )
