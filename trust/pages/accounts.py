"""Sign-in, sign-out and passwords: Django's own views, in the portal's templates."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import include, path
from django.views.decorators.http import require_POST

from trust import tokens
from trust.portal import run_service_with_messages


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["show_demo_logins"] = settings.SHOW_DEMO_LOGINS
        return context


@login_required
@require_POST
def sign_out_everywhere(request):
    """Revoke every API token of the signed-in user; the page they are on stays signed in."""
    run_service_with_messages(
        request,
        lambda: tokens.user_tokens_revoke_all(
            user=request.user, actor=request.user, reason="sign_out_everywhere"
        ),
        success=lambda revoked: f"Signed out everywhere: {revoked} API token(s) revoked.",
    )
    return redirect("password_change")


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("sign-out-everywhere/", sign_out_everywhere, name="sign-out-everywhere"),
    path("", include("django.contrib.auth.urls")),
]
