from rest_framework.permissions import BasePermission

from trust.selectors import is_trust_admin, member_of, members_in_authority_of


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


class IsMemberOrAuthority(BasePermission):
    """A member, or the holder of a late member's consent authority (their estate representative,
    or an administrator while the union holds it)."""

    message = "only members, or a late member's authority, may do this"
    code = "members_only"

    def has_permission(self, request, view):
        user = request.user
        return member_of(user) is not None or members_in_authority_of(user).exists()
