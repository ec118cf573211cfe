from rest_framework.permissions import BasePermission

from trust.selectors import is_trust_admin, member_of


class IsTrustAdmin(BasePermission):
    message = "only a trust administrator may do this"
    code = "admin_only"

    def has_permission(self, request, view):
        return is_trust_admin(request.user)


class IsMember(BasePermission):
    message = "only members may do this"
    code = "members_only"

    def has_permission(self, request, view):
        return member_of(request.user) is not None
