"""Password guessing: where a caller is, and what a locked-out caller sees.

django-axes counts failed sign-ins in the shared cache per account and per client address, for
the login page and the API's token endpoint alike (both go through `authenticate`)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

LOCKED_OUT_CODE = "too_many_failed_logins"
LOCKED_OUT_DETAIL = "Too many failed sign-ins for this account or from this address: try again later."


def client_address(request: HttpRequest) -> str:
    """The caller's address: `REMOTE_ADDR`, or with TRUSTED_PROXY_COUNT proxies in front, the
    address the outermost trusted proxy saw in `X-Forwarded-For` (the same rule as DRF's
    NUM_PROXIES). With no trusted proxy the header is ignored: anyone can write it."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    hops = forwarded.split(",")
    return hops[-min(proxies, len(hops))].strip()


def demo_logins_context() -> dict:
    """What the login page says of the demo logins: shown on the embedded default only, and
    `studio` only where it exists (the second trust of `make federation` has none)."""
    from django.contrib.auth import get_user_model

    if not settings.SHOW_DEMO_LOGINS:
        return {"show_demo_logins": False}
    return {
        "show_demo_logins": True,
        "demo_studio_login": get_user_model().objects.filter(username="studio").exists(),
    }


def locked_out_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """429 for a locked-out caller: the API's error shape, or the login page with the reason."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": LOCKED_OUT_CODE, "detail": LOCKED_OUT_DETAIL}, status=429)
    messages.error(request, LOCKED_OUT_DETAIL)
    context = {"form": AuthenticationForm(request), **demo_logins_context()}
    return TemplateResponse(request, "registration/login.html", context, status=429).render()
