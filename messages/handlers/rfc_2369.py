"""The rfc-2369 handler: RFC 2919 List-Id, RFC 2369 List-* and RFC 5064
Archived-At headers."""

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr
from functools import lru_cache

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.translation import gettext_lazy

from archive.reading import message_id_hash, normal_message_id
from lists.models import ArchivePolicy, MailingList, Personalization
from messages.pipeline import Handler, register_handler
from messages.pipeline.mime import clean_text, raw_header

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
    "Archived-At",
)


@register_handler
class RFC2369(Handler):
    """List-Id, List-Help, List-Owner, List-Post, List-Subscribe,
    List-Unsubscribe and, when archived, List-Archive and the post's
    permalink in Archived-At, unless the list turns them off. A
    personalized list's List-Unsubscribe carries only the mailto: here;
    delivery adds each member's own one-click URL (RFC 8058)."""

    name = "rfc-2369"
    description = gettext_lazy("Add the RFC 2919 List-Id, RFC 2369 List-* and RFC 5064 Archived-At headers.")

    def process(self, mlist, msg, state):
        if not mlist.include_rfc2369_headers:
            return
        for name in LIST_HEADERS:
            del msg[name]
        for name, value in list_headers(mlist) + archive_headers(mlist, msg):
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
    return headers


def archive_headers(mlist: MailingList, msg: EmailMessage) -> list[tuple[str, str]]:
    """List-Archive, and Archived-At (RFC 5064 section 2): where the post
    will be in the archive, at the permalink of its Message-ID as the
    archive reads it (archive.reading)."""
    if mlist.archive_policy == ArchivePolicy.NEVER:
        return []
    urls = archive_urls(mlist.list_id, settings.SITE_URL, get_script_prefix(), get_urlconf())
    headers = [("List-Archive", f"<{urls.index}>")]
    message_id = normal_message_id(clean_text(raw_header(msg, "Message-ID") or ""))
    if message_id:
        headers.append(("Archived-At", f"<{urls.message(message_id_hash(message_id))}>"))
    return headers


# Any Message-ID hash: the permalinks of a list differ in it alone.
SOME_HASH = "A" * 32


@dataclass(frozen=True)
class ArchiveURLs:
    index: str
    # A message's permalink is its hash between these.
    before_hash: str
    after_hash: str

    def message(self, message_hash: str) -> str:
        return f"{self.before_hash}{message_hash}{self.after_hash}"


@lru_cache(maxsize=1024)
def archive_urls(list_id: str, site: str, script_prefix: str, urlconf: str | None) -> ArchiveURLs:
    """A list's archive URLs on `site`, reversed once (every post asks for
    them), not once a post; the cache is keyed on what reverse() reads too."""
    permalink = reverse("archive-message", args=[list_id, SOME_HASH], urlconf=urlconf)
    before, _hash, after = permalink.rpartition(SOME_HASH)
    index = reverse("archive-index", args=[list_id], urlconf=urlconf)
    return ArchiveURLs(f"{site}{index}", f"{site}{before}", after)


def list_url(mlist: MailingList) -> str:
    """The list's page on the site, ending in a slash."""
    return f"{settings.SITE_URL}/lists/{mlist.list_id}/"
