"""The rfc-2369 handler: RFC 2919 List-Id and RFC 2369 List-* headers."""

from email.utils import formataddr

from django.conf import settings
from django.utils.translation import gettext_lazy

from lists.models import ArchivePolicy, MailingList, Personalization
from messages.pipeline import Handler, register_handler

# Every list header a post may already carry from another list; ours replace them.
LIST_HEADERS = (
    "List-Id",
    "List-Help",
    "List-Owner",
    "List-Post",
    "List-Subscribe",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Archive",
)


@register_handler
class RFC2369(Handler):
    """List-Id, List-Help, List-Owner, List-Post, List-Subscribe,
    List-Unsubscribe and (when archived) List-Archive, unless the list turns
    them off. A personalized list's List-Unsubscribe carries only the mailto:
    here; delivery adds each member's own one-click URL (RFC 8058)."""

    name = "rfc-2369"
    description = gettext_lazy("Add the RFC 2919 List-Id and RFC 2369 List-* headers.")

    def process(self, mlist, msg, state):
        if not mlist.include_rfc2369_headers:
            return
        for name in LIST_HEADERS:
            del msg[name]
        for name, value in list_headers(mlist):
            msg[name] = value


def list_headers(mlist: MailingList) -> list[tuple[str, str]]:
    # RFC 2919 section 3: an optional phrase, then the list-id in angle brackets.
    list_id = formataddr((mlist.display_name, mlist.list_id)) if mlist.display_name else f"<{mlist.list_id}>"
    unsubscribe = [f"<mailto:{mlist.subaddress('leave')}>"]
    if mlist.personalize == Personalization.NONE:
        unsubscribe.append(f"<{list_url(mlist)}unsubscribe/>")
    headers = [
        ("List-Id", list_id),
        ("List-Help", f"<mailto:{mlist.subaddress('request')}?subject=help>"),
        ("List-Owner", f"<mailto:{mlist.subaddress('owner')}>"),
        # RFC 2369 section 3.4: NO when the list takes no posts from members.
        ("List-Post", f"<mailto:{mlist.posting_address}>" if mlist.allow_list_posts else "NO"),
        ("List-Subscribe", f"<mailto:{mlist.subaddress('join')}>"),
        ("List-Unsubscribe", ", ".join(unsubscribe)),
    ]
    if mlist.archive_policy != ArchivePolicy.NEVER:
        headers.append(("List-Archive", f"<{list_url(mlist)}archive/>"))
    return headers


def list_url(mlist: MailingList) -> str:
    """The list's page on the site, ending in a slash."""
    return f"{settings.SITE_URL}/lists/{mlist.list_id}/"
