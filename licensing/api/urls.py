from django.urls import path

from . import views

# The gateway first: every download resolves its URL, and each pattern tried before it costs.
urlpatterns = [
    path(
        "leases/<id:lease_id>/assets/<uuid:asset_id>/download/",
        views.DownloadView.as_view(),
        name="api-lease-download",
    ),
    path("studios/", views.StudioListView.as_view(), name="api-studios"),
    path("studios/<id:studio_id>/staff/", views.StudioStaffView.as_view(), name="api-studio-staff"),
    path("terms/", views.TermsListView.as_view(), name="api-terms"),
    path("terms/<id:terms_id>/shared-with/", views.TermsShareView.as_view(), name="api-terms-share"),
    path("catalog/", views.CatalogueView.as_view(), name="api-catalogue"),
    path("federation/inbound/offers/", views.InboundOffersView.as_view(), name="api-federation-offers"),
    path(
        "federation/inbound/lease-parts/", views.InboundLeasePartView.as_view(), name="api-federation-parts"
    ),
    path(
        "federation/inbound/lease-parts/end/",
        views.InboundLeasePartEndView.as_view(),
        name="api-federation-part-end",
    ),
    path(
        "federation/inbound/part-decisions/",
        views.InboundPartDecisionView.as_view(),
        name="api-federation-part-decisions",
    ),
    path(
        "federation/inbound/lease-parts/<id:home_lease_id>/manifest/",
        views.InboundPartManifestView.as_view(),
        name="api-federation-part-manifest",
    ),
    path(
        "federation/inbound/revocations/",
        views.InboundRevocationsView.as_view(),
        name="api-federation-revocations",
    ),
    path("federation/inbound/usage/", views.InboundUsageView.as_view(), name="api-federation-usage"),
    path(
        "federation/inbound/takedowns/",
        views.InboundTakedownsView.as_view(),
        name="api-federation-takedowns",
    ),
    path(
        "federation/inbound/takedowns/status/",
        views.InboundTakedownStatusView.as_view(),
        name="api-federation-takedown-status",
    ),
    path("leases/", views.LeaseListView.as_view(), name="api-leases"),
    path("leases/<id:lease_id>/", views.LeaseDetailView.as_view(), name="api-lease"),
    path("leases/<id:lease_id>/approve/", views.LeaseApproveView.as_view(), name="api-lease-approve"),
    path("leases/<id:lease_id>/reject/", views.LeaseRejectView.as_view(), name="api-lease-reject"),
    path("leases/<id:lease_id>/cancel/", views.LeaseCancelView.as_view(), name="api-lease-cancel"),
    path("leases/<id:lease_id>/revoke/", views.LeaseRevokeView.as_view(), name="api-lease-revoke"),
    path("leases/<id:lease_id>/tokens/", views.LeaseTokensView.as_view(), name="api-lease-tokens"),
    path(
        "leases/<id:lease_id>/tokens/<id:token_id>/",
        views.LeaseTokenDetailView.as_view(),
        name="api-lease-token",
    ),
    path(
        "leases/<id:lease_id>/tokens/derive/",
        views.DerivedTokenDeriveView.as_view(),
        name="api-lease-token-derive",
    ),
    path(
        "leases/<id:lease_id>/derived-tokens/",
        views.DerivedTokensView.as_view(),
        name="api-lease-derived-tokens",
    ),
    path(
        "leases/<id:lease_id>/derived-tokens/<id:derived_id>/revoke/",
        views.DerivedTokenRevokeView.as_view(),
        name="api-lease-derived-token-revoke",
    ),
    path("leases/<id:lease_id>/manifest/", views.ManifestView.as_view(), name="api-lease-manifest"),
    path(
        "leases/<id:lease_id>/assets/<uuid:asset_id>/c2pa/",
        views.AssetProvenanceView.as_view(),
        name="api-lease-asset-c2pa",
    ),
    path("leases/<id:lease_id>/usage/", views.UsageView.as_view(), name="api-lease-usage"),
    path(
        "leases/<id:lease_id>/usage/corrections/",
        views.UsageCorrectionView.as_view(),
        name="api-lease-usage-corrections",
    ),
    path("leases/<id:lease_id>/takedowns/", views.LeaseTakedownsView.as_view(), name="api-lease-takedowns"),
    path(
        "takedowns/<id:takedown_id>/acknowledge/",
        views.TakedownAcknowledgeView.as_view(),
        name="api-takedown-acknowledge",
    ),
    path(
        "takedowns/<id:takedown_id>/attest/", views.TakedownAttestView.as_view(), name="api-takedown-attest"
    ),
    path("transparency/leases/", views.TransparencyView.as_view(), name="api-transparency"),
    path("me/models/", views.MyModelsView.as_view(), name="api-my-models"),
    path("transparency/models/", views.TransparencyModelsView.as_view(), name="api-transparency-models"),
    path(
        "leases/<id:lease_id>/croissant.json", views.LeaseCroissantView.as_view(), name="api-lease-croissant"
    ),
    path("leases/<id:lease_id>/odrl.json", views.LeaseOdrlView.as_view(), name="api-lease-odrl"),
    path("leases/<id:lease_id>/models/", views.LeaseModelsView.as_view(), name="api-lease-models"),
    path(
        "datasets/<id:dataset_id>/versions/<id:number>/croissant.json",
        views.DatasetVersionCroissantView.as_view(),
        name="api-dataset-version-croissant",
    ),
]
