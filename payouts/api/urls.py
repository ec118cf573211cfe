from django.urls import path

from . import unclaimed, views

urlpatterns = [
    path("federation/settlements/", views.SettlementListView.as_view(), name="api-federation-settlements"),
    path(
        "federation/inbound/settlements/",
        views.InboundSettlementView.as_view(),
        name="api-federation-inbound-settlements",
    ),
    path(
        "federation/inbound/settlements/downloads/",
        views.InboundPartDownloadsView.as_view(),
        name="api-federation-inbound-part-downloads",
    ),
    path("settings/rates/", views.RatesView.as_view(), name="api-rates"),
    path("periods/", views.PeriodListView.as_view(), name="api-periods"),
    path("periods/<id:period_id>/", views.PeriodDetailView.as_view(), name="api-period"),
    path("periods/<id:period_id>/close/", views.PeriodCloseView.as_view(), name="api-period-close"),
    path("me/earnings/", views.MyEarningsView.as_view(), name="api-my-earnings"),
    path("me/leases/", views.MyLeasesView.as_view(), name="api-my-leases"),
    path("invoices/", views.InvoiceListView.as_view(), name="api-invoices"),
    path("invoices/<id:invoice_id>/pdf/", views.InvoicePdfView.as_view(), name="api-invoice-pdf"),
    path("invoices/<id:invoice_id>/csv/", views.InvoiceCsvView.as_view(), name="api-invoice-csv"),
    path(
        "invoices/<id:invoice_id>/payments/", views.InvoicePaymentView.as_view(), name="api-invoice-payments"
    ),
    path("invoices/<id:invoice_id>/void/", views.InvoiceVoidView.as_view(), name="api-invoice-void"),
    path("credit-notes/", views.CreditNoteListView.as_view(), name="api-credit-notes"),
    path("credit-notes/<id:note_id>/pdf/", views.CreditNotePdfView.as_view(), name="api-credit-note-pdf"),
    path("credit-notes/<id:note_id>/csv/", views.CreditNoteCsvView.as_view(), name="api-credit-note-csv"),
    path("charges/", views.StudioChargesView.as_view(), name="api-studio-charges"),
    path("payouts/balances/", views.MemberBalanceListView.as_view(), name="api-payout-balances"),
    path("payouts/batches/", views.PayoutBatchListView.as_view(), name="api-payout-batches"),
    path("payouts/batches/<id:batch_id>/", views.PayoutBatchDetailView.as_view(), name="api-payout-batch"),
    path(
        "payouts/batches/<id:batch_id>/csv/", views.PayoutBatchCsvView.as_view(), name="api-payout-batch-csv"
    ),
    path(
        "payouts/batches/<id:batch_id>/pain001/",
        views.PayoutBatchPainView.as_view(),
        name="api-payout-batch-pain001",
    ),
    path(
        "payouts/batches/<id:batch_id>/sent/",
        views.PayoutBatchSentView.as_view(),
        name="api-payout-batch-sent",
    ),
    path(
        "payouts/batches/<id:batch_id>/settled/",
        views.PayoutBatchSettledView.as_view(),
        name="api-payout-batch-settled",
    ),
    path(
        "payouts/batches/<id:batch_id>/returns/",
        views.PayoutReturnView.as_view(),
        name="api-payout-batch-returns",
    ),
    path("me/payouts/", views.MyPayoutsView.as_view(), name="api-my-payouts"),
    path("unclaimed/", unclaimed.UnclaimedPoolView.as_view(), name="api-unclaimed"),
    path("unclaimed/claims/", unclaimed.UnclaimedClaimView.as_view(), name="api-unclaimed-claims"),
    path("me/unclaimed/", unclaimed.MyUnclaimedView.as_view(), name="api-my-unclaimed"),
    path("me/unclaimed/claim/", unclaimed.MyUnclaimedClaimView.as_view(), name="api-my-unclaimed-claim"),
    path(
        "members/<id:member_id>/untraceable/",
        unclaimed.MemberUntraceableView.as_view(),
        name="api-member-untraceable",
    ),
    path("reconciliation/", views.ReconciliationView.as_view(), name="api-reconciliation"),
    path("ledger/accounts/", views.LedgerAccountListView.as_view(), name="api-ledger-accounts"),
    path(
        "ledger/accounts/<id:account_id>/entries/",
        views.LedgerAccountEntriesView.as_view(),
        name="api-ledger-account-entries",
    ),
    path("studio/statement/", views.StudioStatementView.as_view(), name="api-studio-statement"),
]
