from django.urls import path

from . import views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("auth/tokens/revoke-all/", views.TokenRevokeAllView.as_view(), name="api-token-revoke-all"),
    path("members/", views.MemberListView.as_view(), name="api-members"),
    path("members/<id:member_id>/death/", views.MemberDeathView.as_view(), name="api-member-death"),
    path(
        "members/<id:member_id>/authority/", views.MemberAuthorityView.as_view(), name="api-member-authority"
    ),
    path("assets/", views.AssetListView.as_view(), name="api-assets"),
    path("assets/<uuid:asset_id>/", views.AssetDetailView.as_view(), name="api-asset"),
    path("assets/<uuid:asset_id>/complete/", views.AssetCompleteView.as_view(), name="api-asset-complete"),
    path("contributions/", views.ContributionListView.as_view(), name="api-contributions"),
    path(
        "contributions/<id:contribution_id>/accept/",
        views.ContributionAcceptView.as_view(),
        name="api-contribution-accept",
    ),
    path(
        "contributions/<id:contribution_id>/decline/",
        views.ContributionDeclineView.as_view(),
        name="api-contribution-decline",
    ),
    path("consents/", views.ConsentListView.as_view(), name="api-consents"),
    path(
        "consents/<id:consent_id>/withdraw/",
        views.ConsentWithdrawView.as_view(),
        name="api-consent-withdraw",
    ),
    path(
        "consents/<id:consent_id>/reconfirm/",
        views.ConsentReconfirmView.as_view(),
        name="api-consent-reconfirm",
    ),
    path("consents/<id:consent_id>/receipt/", views.ConsentReceiptView.as_view(), name="api-consent-receipt"),
    path("consent-texts/", views.ConsentTextListView.as_view(), name="api-consent-texts"),
    path("datasets/", views.DatasetListView.as_view(), name="api-datasets"),
    path("datasets/<id:dataset_id>/", views.DatasetDetailView.as_view(), name="api-dataset"),
    path("datasets/<id:dataset_id>/items/", views.DatasetItemsView.as_view(), name="api-dataset-items"),
    path(
        "datasets/<id:dataset_id>/versions/",
        views.DatasetVersionsView.as_view(),
        name="api-dataset-versions",
    ),
    path("audit/", views.AuditLogView.as_view(), name="api-audit"),
    path("me/bank-account/", views.MyBankAccountView.as_view(), name="api-my-bank-account"),
    path(
        "me/estate-representative/",
        views.MyEstateRepresentativeView.as_view(),
        name="api-my-estate-representative",
    ),
    path("settings/retention/", views.RetentionView.as_view(), name="api-retention"),
    path("destructions/", views.DestructionListView.as_view(), name="api-destructions"),
    path(
        "destructions/<id:destruction_id>/certificate/",
        views.DestructionCertificateView.as_view(),
        name="api-destruction-certificate",
    ),
]
