"""Who may do what through the API.

Roles come from memberships: a user holds a role on a list through an
address linked to their account *and verified*; an unverified link proves
nothing. Site admins are superusers.

What a caller may not see answers 404 (a list that is not advertised and on
which they hold no role, another person's membership or address); what they
may see but not do answers 403; no credentials at all answers 401.
"""

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from oauth2_provider.models import get_access_token_model
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from api.models import ApiKey
from lists.models import MailingList
from members.models import Address, DeliveryStatus, Membership, Role

Caller = AbstractBaseUser | AnonymousUser

MANAGER_ROLES = {Role.OWNER}
ROSTER_READER_ROLES = {Role.OWNER, Role.MODERATOR}
MODERATOR_ROLES = {Role.OWNER, Role.MODERATOR}
# What members may change on their own memberships, and to which values
# (None: any valid value).
SELF_SERVICE = {
    "delivery_mode": None,
    "delivery_status": {DeliveryStatus.ENABLED, DeliveryStatus.BY_USER},
    "receive_own_postings": None,
    "receive_list_copy": None,
    "acknowledge_posts": None,
    "hide_address": None,
}


def is_site_admin(user: Caller) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def own_addresses(user: Caller) -> QuerySet[Address]:
    """The verified addresses through which `user` holds roles."""
    if not user.is_authenticated:
        return Address.objects.none()
    return Address.objects.filter(user=user.pk, verified_at__isnull=False)


def list_roles(user: Caller, mlist: MailingList) -> set[str]:
    return set(
        Membership.objects.filter(mailing_list=mlist, address__in=own_addresses(user)).values_list("role", flat=True)
    )


def can_manage_list(user: Caller, mlist: MailingList) -> bool:
    return is_site_admin(user) or bool(list_roles(user, mlist) & MANAGER_ROLES)


def can_read_roster(user: Caller, mlist: MailingList) -> bool:
    return is_site_admin(user) or bool(list_roles(user, mlist) & ROSTER_READER_ROLES)


def can_moderate(user: Caller, mlist: MailingList) -> bool:
    """Owners, moderators and site admins: held posts and subscription requests."""
    return is_site_admin(user) or bool(list_roles(user, mlist) & MODERATOR_ROLES)


def is_own_membership(user: Caller, membership: Membership) -> bool:
    """`membership` is held through one of `user`'s verified addresses."""
    return own_addresses(user).filter(pk=membership.address_id).exists()


def can_manage_membership(user: Caller, membership: Membership) -> bool:
    """The member themself, the list's owners and site admins: preferences, leaving."""
    return can_manage_list(user, membership.mailing_list) or is_own_membership(user, membership)


def visible_lists(user: Caller) -> QuerySet[MailingList]:
    """Advertised lists, and those on which `user` is a member, owner or
    moderator; all for admins. A nonmember record (made when somebody merely
    posted) does not reveal a private list."""
    lists = MailingList.objects.select_related("domain")
    if is_site_admin(user):
        return lists
    if not user.is_authenticated:
        return lists.filter(advertised=True)
    with_role = (
        Membership.objects.filter(address__in=own_addresses(user)).exclude(role=Role.NONMEMBER).values("mailing_list")
    )
    return lists.filter(Q(advertised=True) | Q(pk__in=with_role))


def visible_memberships(user: Caller) -> QuerySet[Membership]:
    """`user`'s own memberships and the rosters they read; all for admins."""
    memberships = Membership.objects.select_related("address", "mailing_list__domain")
    if is_site_admin(user):
        return memberships
    if not user.is_authenticated:
        return memberships.none()
    rosters = Membership.objects.filter(address__in=own_addresses(user), role__in=ROSTER_READER_ROLES)
    return memberships.filter(Q(address__in=own_addresses(user)) | Q(mailing_list__in=rosters.values("mailing_list")))


def visible_addresses(user: Caller) -> QuerySet[Address]:
    """Addresses linked to `user`, verified or not; all for admins."""
    if is_site_admin(user):
        return Address.objects.all()
    if not user.is_authenticated:
        return Address.objects.none()
    return Address.objects.filter(user=user.pk)


def check_self_service_changes(changes: dict) -> None:
    """PermissionDenied unless a member may make `changes` to their own membership."""
    for name, value in changes.items():
        if name not in SELF_SERVICE:
            raise PermissionDenied(_("Only list owners may change %(field)s.") % {"field": name})
        allowed = SELF_SERVICE[name]
        if allowed is not None and value not in allowed:
            raise PermissionDenied(
                _("Members may set %(field)s only to: %(values)s.")
                % {"field": name, "values": ", ".join(sorted(allowed))}
            )


class ScopeAllowsMethod(BasePermission):
    """Read-only API keys and OAuth tokens without the write scope may only read."""

    def has_permission(self, request: Request, view) -> bool:
        credential = request.auth
        if isinstance(credential, ApiKey):
            self.message = _("This API key is read-only.")
            return credential.allows_method(request.method)
        if isinstance(credential, get_access_token_model()):
            scope = "read" if request.method in SAFE_METHODS else "write"
            self.message = _("This token lacks the %(scope)s scope.") % {"scope": scope}
            return credential.allow_scopes([scope])
        return True


class IsSiteAdmin(BasePermission):
    message = gettext_lazy("Only site administrators may do this.")

    def has_permission(self, request: Request, view) -> bool:
        return is_site_admin(request.user)


class IsSiteAdminOrReadOnly(IsSiteAdmin):
    def has_permission(self, request: Request, view) -> bool:
        return request.method in SAFE_METHODS or is_site_admin(request.user)


class ManagesList(BasePermission):
    """Object permission on a MailingList: its owners and site admins."""

    message = gettext_lazy("Only owners of this list may do this.")

    def has_object_permission(self, request: Request, view, obj: MailingList) -> bool:
        return can_manage_list(request.user, obj)


class MembershipAccess(BasePermission):
    """Object permission on a Membership the caller can already see.

    Reading is settled by visible_memberships(). Owners change anything on
    their lists; members change or end their own memberships, within
    SELF_SERVICE; moderators only read.
    """

    message = gettext_lazy("Only list owners and the member may change this membership.")

    def has_object_permission(self, request: Request, view, obj: Membership) -> bool:
        return request.method in SAFE_METHODS or can_manage_membership(request.user, obj)
