"""Invoice pages: studio staff see their studio's invoices, administrators every studio's and
record payments or void from the invoice's page. Both call `payouts.invoices`, like the API."""

import uuid
from decimal import Decimal

from django import forms
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from trust.api.validation import found
from trust.errors import NotFound
from trust.portal import PortalForm, admin_required, run_service_with_messages, studio_required
from trust.templatetags.portal import money

from .. import corrections, credit_note_documents, invoice_documents, invoices
from ..models import Invoice

PER_PAGE = 50


class PaymentForm(PortalForm):
    amount = forms.DecimalField(
        label="Amount received", max_digits=15, decimal_places=2, min_value=Decimal("0.01")
    )
    paid_at = forms.DateField(label="Received on", widget=forms.DateInput(attrs={"type": "date"}))
    reference = forms.CharField(label="Bank reference", max_length=140)
    # A new key each time the form is shown: submitting it twice (a double click, the back
    # button) records the payment once.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200, required=False)


class VoidForm(PortalForm):
    reason = forms.CharField(label="Why is it void?", max_length=500, required=False)


def _invoice(request, invoice_id) -> Invoice:
    """Another studio's invoice is a 404, like one that does not exist."""
    try:
        return found(invoices.invoices_visible_to(request.user), invoice_id, what="invoice")
    except NotFound as error:
        raise Http404("no such invoice") from error


def _listing(request, *, admin: bool):
    rows = invoices.invoices_visible_to(request.user)
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    notes = corrections.credit_notes_visible_to(request.user).prefetch_related(
        "lines__original_invoice", "lines__original_period"
    )
    context = {
        "page": page,
        "admin": admin,
        "overdue_count": invoices.overdue(rows).count(),
        "now": timezone.now(),
        "credit_notes": Paginator(notes, PER_PAGE).get_page(request.GET.get("notes_page")),
    }
    return render(request, "payouts/invoices/list.html", context)


def _detail(request, invoice_id, *, admin: bool, payment_form=None, void_form=None):
    invoice = _invoice(request, invoice_id)
    context = {
        "invoice": invoice,
        "lines": invoice.lines.order_by("lease_id", "id"),
        "payments": invoice.payments.order_by("paid_at", "id"),
        "overdue": invoices.is_overdue(invoice),
        "admin": admin,
        "payment_form": payment_form
        or PaymentForm(
            initial={
                "paid_at": timezone.localdate(),
                "amount": Decimal(invoice.outstanding_cents) / 100,
                "idempotency_key": uuid.uuid4().hex,
            }
        ),
        "void_form": void_form or VoidForm(),
    }
    return render(request, "payouts/invoices/detail.html", context)


def _document(request, invoice_id, kind: str):
    invoice = _invoice(request, invoice_id)
    if kind == "pdf":
        content, content_type = invoice_documents.invoice_pdf(invoice), "application/pdf"
    else:
        content, content_type = invoice_documents.invoice_csv(invoice), "text/csv"
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{invoice_documents.filename(invoice, kind)}"'
    return response


def _credit_note_document(request, note_id, kind: str):
    """A credit note's PDF or CSV; another studio's is a 404, like one that does not exist."""
    try:
        note = found(corrections.credit_notes_visible_to(request.user), note_id, what="credit_note")
    except NotFound as error:
        raise Http404("no such credit note") from error
    if kind == "pdf":
        content, content_type = credit_note_documents.credit_note_pdf(note), "application/pdf"
    elif kind == "csv":
        content, content_type = credit_note_documents.credit_note_csv(note), "text/csv"
    else:
        raise Http404("no such document")
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{credit_note_documents.filename(note, kind)}"'
    return response


@studio_required
def studio_credit_note_document(request, note_id, kind):
    return _credit_note_document(request, note_id, kind)


@admin_required
def operations_credit_note_document(request, note_id, kind):
    return _credit_note_document(request, note_id, kind)


@studio_required
def studio_invoices(request):
    return _listing(request, admin=False)


@studio_required
def studio_invoice(request, invoice_id):
    return _detail(request, invoice_id, admin=False)


@studio_required
def studio_invoice_document(request, invoice_id, kind):
    return _document(request, invoice_id, kind)


@admin_required
def operations_invoices(request):
    return _listing(request, admin=True)


@admin_required
def operations_invoice(request, invoice_id):
    return _detail(request, invoice_id, admin=True)


@admin_required
def operations_invoice_document(request, invoice_id, kind):
    return _document(request, invoice_id, kind)


@admin_required
@require_POST
def operations_invoice_payment(request, invoice_id):
    invoice = _invoice(request, invoice_id)
    form = PaymentForm(request.POST)
    if form.is_valid():
        cents = int(form.cleaned_data["amount"] * 100)
        done = run_service_with_messages(
            request,
            lambda: invoices.invoice_payment_record(
                actor=request.user,
                invoice=invoice,
                amount_cents=cents,
                paid_at=form.cleaned_data["paid_at"],
                reference=form.cleaned_data["reference"],
                idempotency_key=form.cleaned_data["idempotency_key"],
            ),
            success=f"Payment of {money(cents)} {invoice.currency} recorded on {invoice.number}.",
        )
        if done is not None:
            return redirect("operations-invoice", invoice_id=invoice.pk)
    return _detail(request, invoice_id, admin=True, payment_form=form)


@admin_required
@require_POST
def operations_invoice_void(request, invoice_id):
    invoice = _invoice(request, invoice_id)
    form = VoidForm(request.POST)
    if form.is_valid():
        run_service_with_messages(
            request,
            lambda: invoices.invoice_void(
                actor=request.user, invoice=invoice, reason=form.cleaned_data["reason"]
            ),
            success=f"{invoice.number} is void: its total left the studio's receivable.",
        )
    return redirect("operations-invoice", invoice_id=invoice.pk)


studio_urls = [
    path("invoices/", studio_invoices, name="studio-invoices"),
    path("invoices/<id:invoice_id>/", studio_invoice, name="studio-invoice"),
    path("invoices/<id:invoice_id>/<str:kind>/", studio_invoice_document, name="studio-invoice-document"),
    path(
        "credit-notes/<id:note_id>/<str:kind>/",
        studio_credit_note_document,
        name="studio-credit-note-document",
    ),
]
operations_urls = [
    path("invoices/", operations_invoices, name="operations-invoices"),
    path("invoices/<id:invoice_id>/", operations_invoice, name="operations-invoice"),
    path("invoices/<id:invoice_id>/payments/", operations_invoice_payment, name="operations-invoice-payment"),
    path("invoices/<id:invoice_id>/void/", operations_invoice_void, name="operations-invoice-void"),
    path(
        "invoices/<id:invoice_id>/<str:kind>/",
        operations_invoice_document,
        name="operations-invoice-document",
    ),
    path(
        "credit-notes/<id:note_id>/<str:kind>/",
        operations_credit_note_document,
        name="operations-credit-note-document",
    ),
]
