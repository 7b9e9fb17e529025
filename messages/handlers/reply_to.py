"""The reply-to handler."""

from email.utils import formataddr, getaddresses, parseaddr

from django.utils.translation import gettext_lazy

from lists.models import Personalization, ReplyToPolicy
from messages.pipeline import Handler, register_handler
from messages.pipeline.mime import clean_text, raw_headers


@register_handler
class ReplyTo(Handler):
    """Munge Reply-To as the list's reply_goes_to_list says (Mailman's rules).

    The explicit address comes first, then the sender's own Reply-To
    (unless first_strip_reply_to), then the list itself for point_to_list.
    RFC 5322 allows one Reply-To, so the addresses are merged into one.
    A fully personalized list rewrites To, so the posting address goes in
    Cc unless replies already go to the list.
    """

    name = "reply-to"
    description = gettext_lazy("Set Reply-To as the list's policy says.")

    def process(self, mlist, msg, state):
        policy = mlist.reply_goes_to_list
        reply_to = AddressSet()
        if policy in (ReplyToPolicy.EXPLICIT_HEADER, ReplyToPolicy.EXPLICIT_HEADER_ONLY) and mlist.reply_to_address:
            reply_to.add(parseaddr(mlist.reply_to_address))
        if not mlist.first_strip_reply_to:
            reply_to.extend(header_pairs(msg, "Reply-To"))
        if policy == ReplyToPolicy.POINT_TO_LIST:
            reply_to.add((mlist.display_name, mlist.posting_address))
        del msg["Reply-To"]
        if reply_to:
            msg["Reply-To"] = str(reply_to)
        if (
            mlist.personalize == Personalization.FULL
            and policy != ReplyToPolicy.POINT_TO_LIST
            and not mlist.anonymous_list
        ):
            cc = AddressSet(header_pairs(msg, "Cc"))
            if policy != ReplyToPolicy.EXPLICIT_HEADER_ONLY:
                cc.add((mlist.display_name, mlist.posting_address))
            del msg["Cc"]
            if cc:
                msg["Cc"] = str(cc)


def header_pairs(msg, name: str) -> list[tuple[str, str]]:
    return getaddresses([clean_text(value) for value in raw_headers(msg, name)])


class AddressSet:
    """(display name, address) pairs in order, one per address (case-insensitively)."""

    def __init__(self, pairs=()):
        self.pairs: dict[str, tuple[str, str]] = {}
        self.extend(pairs)

    def add(self, pair: tuple[str, str]) -> None:
        if pair[1] and pair[1].lower() not in self.pairs:
            self.pairs[pair[1].lower()] = pair

    def extend(self, pairs) -> None:
        for pair in pairs:
            self.add(pair)

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def __str__(self) -> str:
        return ", ".join(formataddr(pair) for pair in self.pairs.values())
