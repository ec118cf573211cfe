"""Sign-in, sign-out and passwords: Django's own views, in the portal's templates."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_POST

from trust import signin, tokens
from trust.portal import PlainLabelsView, run_service_with_messages


class LoginView(PlainLabelsView, auth_views.LoginView):
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(signin.demo_logins_context())
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


class PasswordChangeView(PlainLabelsView, auth_views.PasswordChangeView):
    pass


class PasswordResetView(PlainLabelsView, auth_views.PasswordResetView):
    pass


class PasswordResetConfirmView(PlainLabelsView, auth_views.PasswordResetConfirmView):
    pass


# django.contrib.auth.urls, with the views whose forms people fill in given plain labels.
urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("sign-out-everywhere/", sign_out_everywhere, name="sign-out-everywhere"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", PasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
