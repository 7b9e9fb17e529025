"""The dmarc handler: From munging or wrapping for DMARC (Mailman's).

A list that re-sends a post From its author's domain breaks that domain's
DMARC alignment (RFC 7489 section 3.1) once it changes the Subject or the
body; receivers then quarantine or reject the copy when the domain asks
them to. The list avoids it by sending From itself: "Name via List
<list@domain>", the author in Reply-To or Cc (munge_from), or the post
whole as a message/rfc822 part of a message from the list (wrap_message).

The handler runs after to-archive, so the stored post (the archive's copy)
keeps its author's From. Delivery sends the mitigated copy: the handler
notes the mitigation on the stored post (Post.dmarc_mitigation), and
delivery (`delivered_copy`) makes that copy from the stored one.
"""

import copy
import logging
import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, getaddresses, make_msgid

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lists.models import DmarcMitigation, MailingList, ReplyToPolicy
from members.models import Address as MemberAddress
from messages.dmarc import mitigation_applies
from messages.models import Post
from messages.pipeline import Handler, register_handler
from messages.pipeline.mime import clean_text, decode_header_value, message_bytes, parse_message, raw_headers

logger = logging.getLogger(__name__)

MITIGATIONS = (DmarcMitigation.MUNGE_FROM, DmarcMitigation.WRAP_MESSAGE)
# Headers of the post that the wrapper keeps (Mailman's KEEPERS, matched at
# the start of the name), with X-BeenThere, which the loop rule reads.
WRAPPER_KEEPS = (
    "archived-at",
    "date",
    "in-reply-to",
    "list-",
    "precedence",
    "references",
    "subject",
    "to",
    "x-beenthere",
    "x-mailman-",
)
# An address in a display name would put a second domain in From.
ADDRESS_IN_NAME = re.compile(r"@([^ .]+\.)+[^ .]+$")


@register_handler
class Dmarc(Handler):
    """Munge From or wrap the post when the list's DMARC settings call for it.

    With dmarc_mitigate_unconditionally every post is mitigated, else those
    From a domain whose policy the list's triggers name. Anonymous lists
    send From the list already and are left alone (as in Mailman).
    """

    name = "dmarc"
    description = gettext_lazy("Munge From or wrap posts From domains with a strict DMARC policy.")

    def process(self, mlist, msg, state):
        action = mitigation_for(mlist, msg)
        if not action:
            return
        mitigate(mlist, msg, action, state.post)
        if state.post is not None:
            mark(state.post, action)


def mitigation_for(mlist: MailingList, msg: EmailMessage) -> str:
    """The mitigation (a DmarcMitigation value) due for `msg`, or ""."""
    if mlist.dmarc_mitigate_action not in MITIGATIONS or mlist.anonymous_list:
        return ""
    if mlist.dmarc_mitigate_unconditionally:
        return mlist.dmarc_mitigate_action
    authors = author_pairs(msg)
    if authors and mitigation_applies(mlist, authors[0][1]):
        return mlist.dmarc_mitigate_action
    return ""


def mitigate(mlist: MailingList, msg: EmailMessage, action: str, post: Post | None = None) -> None:
    """Apply `action` (munge_from or wrap_message) to `msg`, the stored
    `post` when there is one, in place."""
    if action == DmarcMitigation.WRAP_MESSAGE:
        wrap_message(mlist, msg, wrapper_message_id(mlist, post))
    else:
        munge_from(mlist, msg)


def author_pairs(msg: EmailMessage) -> list[tuple[str, str]]:
    """(display name, address) of each author in From that has an address."""
    return [pair for pair in getaddresses([clean_text(v) for v in raw_headers(msg, "From")]) if "@" in pair[1]]


def munged_headers(mlist: MailingList, msg: EmailMessage) -> list[tuple[str, str | Address]]:
    """The From naming the list, and Reply-To or Cc with the author added
    (Mailman's munged_headers): Reply-To when the list leaves Reply-To
    alone, so a reply reaches the author as it would have; Cc when replies
    go to the list, so the author stays visible and is answered too."""
    authors = author_pairs(msg)
    name, email = authors[0] if authors else ("", "")
    name = decode_header_value(name) if name else ""
    if not name and email:
        member = MemberAddress.objects.filter(email=email.lower()).values_list("display_name", flat=True).first()
        name = member or email
    name = ADDRESS_IN_NAME.sub("---", name) or _("A member")
    via = _("%(name)s via %(list)s") % {"name": name, "list": mlist.display_name or mlist.list_name}
    headers: list[tuple[str, str | Address]] = [("From", Address(display_name=via, addr_spec=mlist.posting_address))]
    field = "Reply-To" if mlist.reply_goes_to_list == ReplyToPolicy.NO_MUNGING else "Cc"
    pairs = getaddresses([clean_text(value) for value in raw_headers(msg, field)])
    if email and email.lower() not in {address.lower() for _name, address in pairs}:
        pairs.append(authors[0])
    if pairs:
        headers.append((field, ", ".join(formataddr(pair) for pair in pairs)))
    return headers


def munge_from(mlist: MailingList, msg: EmailMessage) -> None:
    for field, value in munged_headers(mlist, msg):
        del msg[field]
        msg[field] = value


def wrapper_message_id(mlist: MailingList, post: Post | None) -> str:
    """The wrapper's Message-ID: one per post, so every batch and retry
    sends the same (Mailman makes one when it wraps, once)."""
    if post is None or post.pk is None:
        return make_msgid(domain=mlist.domain.mail_host)
    return f"<{mlist.list_name}.{post.pk}.wrapped@{mlist.domain.mail_host}>"


def wrap_message(mlist: MailingList, msg: EmailMessage, message_id: str) -> None:
    """Make `msg` a new message from the list carrying the post whole: the
    list's dmarc_wrapped_message_text first when it has one (Mailman's
    wrap_message, whose header choice this keeps)."""
    original = copy.deepcopy(msg)
    headers = munged_headers(mlist, original)
    for field in set(msg.keys()):
        if not field.lower().startswith(WRAPPER_KEEPS):
            del msg[field]
    msg.set_payload(None)
    msg["Message-ID"] = message_id
    for field, value in headers:
        msg[field] = value
    msg["MIME-Version"] = "1.0"
    if mlist.dmarc_wrapped_message_text:
        msg.set_content(mlist.dmarc_wrapped_message_text, charset="utf-8", disposition="inline")
        msg.add_attachment(original, disposition="inline")
    else:
        msg.set_content(original, disposition="inline")


def mark(post: Post, action: str) -> None:
    """Note on the post that its copies go out with `action` applied (stored
    with it when it is not stored yet, see messages.pipeline.storing)."""
    post.dmarc_mitigation = action
    if post.pk is not None:
        Post.objects.filter(pk=post.pk).update(dmarc_mitigation=action)


def delivered_copy(post: Post, raw: bytes) -> bytes:
    """The stored post `raw` as its members get it: with the mitigation the
    post was marked with. Unmarked posts come back untouched."""
    action = post.dmarc_mitigation
    if not action:
        return raw
    if action not in MITIGATIONS:
        logger.warning("Post %s is marked with an unknown DMARC mitigation %r; sending it unchanged", post.pk, action)
        return raw
    msg = parse_message(raw)
    mitigate(post.mailing_list, msg, action, post)
    return message_bytes(msg)
