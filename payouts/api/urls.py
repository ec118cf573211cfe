from django.urls import path

from . import views

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
    path("reconciliation/", views.ReconciliationView.as_view(), name="api-reconciliation"),
    path("ledger/accounts/", views.LedgerAccountListView.as_view(), name="api-ledger-accounts"),
    path(
        "ledger/accounts/<id:account_id>/entries/",
        views.LedgerAccountEntriesView.as_view(),
        name="api-ledger-account-entries",
    ),
    path("studio/statement/", views.StudioStatementView.as_view(), name="api-studio-statement"),
]
