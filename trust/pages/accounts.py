"""Sign-in, sign-out and passwords: Django's own views, in the portal's templates."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["show_demo_logins"] = settings.SHOW_DEMO_LOGINS
        return context


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("", include("django.contrib.auth.urls")),
]
