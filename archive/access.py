"""Who may read a list's archive: the one rule pages, feeds, attachments,
downloads, search results and the API all ask.

Public archives are readable by anyone. Private archives by the list's
members, owners and moderators (through a verified address) and site
admins. A list that keeps no archive shows what it kept before only to
those who could read a private one. A nonmember record (made when somebody
merely posted) grants nothing.
"""

from django.db.models import Q, QuerySet

from api.permissions import Caller, is_site_admin, own_addresses
from lists.models import ArchivePolicy, MailingList
from members.models import Membership, Role

READER_ROLES = {Role.MEMBER, Role.OWNER, Role.MODERATOR}


def can_read_archive(user: Caller, mlist: MailingList) -> bool:
    return mlist.archive_policy == ArchivePolicy.PUBLIC or holds_reader_role(user, mlist)


def can_download_archive(user: Caller, mlist: MailingList) -> bool:
    """mbox downloads hold the messages as sent, addresses and all: for the
    list's members, moderators, owners and site admins, even where the
    archive is public (the pages obfuscate addresses; a file cannot)."""
    return holds_reader_role(user, mlist)


def holds_reader_role(user: Caller, mlist: MailingList) -> bool:
    if is_site_admin(user):
        return True
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(
        mailing_list=mlist, address__in=own_addresses(user), role__in=READER_ROLES
    ).exists()


def readable_lists(user: Caller) -> QuerySet[MailingList]:
    """Every list whose archive `user` may read (for search across lists)."""
    lists = MailingList.objects.select_related("domain")
    if is_site_admin(user):
        return lists
    public = Q(archive_policy=ArchivePolicy.PUBLIC)
    if not user.is_authenticated:
        return lists.filter(public)
    with_role = Membership.objects.filter(address__in=own_addresses(user), role__in=READER_ROLES).values("mailing_list")
    return lists.filter(public | Q(pk__in=with_role))


def shows_addresses(user: Caller) -> bool:
    """Signed-in readers see addresses as written; anonymous ones see them
    obfuscated, so that public archives do not feed address harvesters."""
    return user.is_authenticated
