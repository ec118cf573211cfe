"""What every portal page shares: who may see a role's pages, and how a page runs a service.

Pages are thin like the API views: they call the same services and selectors, and turn a
domain error into a message on the page instead of a JSON body."""

from collections.abc import Callable
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .errors import DomainError, NotFound
from .selectors import is_trust_admin, member_of, members_in_authority_of

ROLE_HOMES = {
    "admin": "operations-home",
    "member": "member-home",
    "studio": "studio-home",
    "estate": "member-estates",
}
# The late member whose pages the signed-in authority holder is looking at (a member id).
ACTING_FOR = "acting_for_member"


def role_of(user) -> str | None:
    """The portal a signed-in user belongs to. Studio staff are recognised by their staff row
    (read as an attribute: trust does not import licensing)."""
    if not (user and user.is_authenticated):
        return None
    if is_trust_admin(user):
        return "admin"
    if member_of(user) is not None:
        return "member"
    if getattr(user, "studio_staff", None) is not None:
        return "studio"
    # A late member's estate representative with no role of their own.
    if members_in_authority_of(user).exists():
        return "estate"
    return None


def acting_for(request):
    """The late member whose pages the user chose to see (on their estates page), while the user
    still holds that member's consent authority; None otherwise."""
    member_id = request.session.get(ACTING_FOR) if hasattr(request, "session") else None
    if member_id is None or not request.user.is_authenticated:
        return None
    return members_in_authority_of(request.user).filter(pk=member_id).first()


def member_in_view(request):
    """Whose member pages these are: the late member the user acts for, else the user's own."""
    return acting_for(request) or member_of(request.user)


def role_required(role: str) -> Callable:
    """Anonymous visitors go to the login page; a signed-in user of another role gets a 403
    and none of the page's data."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if role_of(request.user) != role:
                raise PermissionDenied(f"these pages are for the trust's {role} role")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


admin_required = role_required("admin")
studio_required = role_required("studio")


def member_required(view):
    """A member's pages: for the member, or for whoever acts for a late member they hold the
    consent authority of. Anyone else gets a 403 and none of the page's data."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if acting_for(request) is None and role_of(request.user) != "member":
            raise PermissionDenied("these pages are for the trust's member role")
        return view(request, *args, **kwargs)

    return wrapped


def run_service_with_messages(request, action: Callable, *, success: str | Callable):
    """Run a service for a form post. Its result, or None after a domain error, which is shown
    to the user as a message; a NotFound is the page's 404. `success` is the message, or a
    function of the result that makes it."""
    try:
        result = action()
    except NotFound as error:
        raise Http404(error.detail) from error
    except DomainError as error:
        messages.error(request, error.detail)
        return None
    messages.success(request, success(result) if callable(success) else success)
    return result


def portal_context(request) -> dict:
    role = role_of(getattr(request, "user", None))
    late_member = acting_for(request) if role else None
    if late_member is not None:
        role = "member"  # the member's own navigation, for the member acted for
    # The trust's own name on every page: two trusts may be open side by side (make federation).
    return {
        "portal_role": role,
        "portal_home": ROLE_HOMES.get(role),
        "trust_name": settings.TRUST_NAME,
        "acting_for": late_member,
    }


class PlainLabels:
    """Labels without Django's trailing colon ("Username", not "Username:"): mixed into every
    portal form, and passed to Django's own sign-in and password forms by their views."""

    label_suffix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", self.label_suffix)
        super().__init__(*args, **kwargs)


class PortalForm(PlainLabels, forms.Form):
    """The base of every portal form."""


class PlainLabelsView:
    """For Django's auth views: their forms get the portal's labels."""

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "label_suffix": PlainLabels.label_suffix}
