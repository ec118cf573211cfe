from rest_framework.permissions import BasePermission

from licensing.models import LeaseToken
from licensing.selectors import studio_of
from licensing.tokens import FederatedAccess
from trust.selectors import is_trust_admin


class IsStudioStaff(BasePermission):
    message = "only studio staff may do this"
    code = "studio_only"

    def has_permission(self, request, view):
        return studio_of(request.user) is not None


class IsStudioStaffOrAdmin(BasePermission):
    message = "only studio staff or a trust administrator may do this"
    code = "studio_only"

    def has_permission(self, request, view):
        return studio_of(request.user) is not None or is_trust_admin(request.user)


class HasLeaseToken(BasePermission):
    """Only a lease token passes (`lt_`, or a verified `ft_`); the service checks it belongs to
    the lease in the URL."""

    message = "this call needs a lease token (lt_ or ft_)"
    code = "lease_token_required"

    def has_permission(self, request, view):
        return isinstance(request.auth, LeaseToken | FederatedAccess)


class HasLeaseTokenOrUser(BasePermission):
    message = "this call needs a lease token or a login"

    def has_permission(self, request, view):
        return isinstance(request.auth, LeaseToken | FederatedAccess) or bool(
            request.user and request.user.is_authenticated
        )
