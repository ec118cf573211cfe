from django.urls import path

from . import views

urlpatterns = [
    path("federation/peers/", views.PeerListView.as_view(), name="api-peers"),
    path("federation/peers/<id:peer_id>/suspend/", views.PeerSuspendView.as_view(), name="api-peer-suspend"),
    path("federation/peers/<id:peer_id>/resume/", views.PeerResumeView.as_view(), name="api-peer-resume"),
    path("federation/inbound/hello/", views.InboundHelloView.as_view(), name="api-federation-hello"),
    path(
        "federation/inbound/suspension/",
        views.InboundSuspensionView.as_view(),
        name="api-federation-suspension",
    ),
]
