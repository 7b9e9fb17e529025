"""The header-filters rule: the list's own header and body filters."""

from email.message import EmailMessage

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lists.models import Action, ContentFilter, FilterPart
from mailman_site.safe_regex import SafePattern, compiled_or_none
from messages.list_configuration import configuration_of
from messages.pipeline import OnHit, Rule, register_rule
from messages.pipeline.mime import clean_text, decode_header_value, part_charset, raw_headers

# Body filters read this much of the post's text, in bytes as sent (after
# base64 or quoted-printable is undone), across its text parts in order:
# spam and the like show themselves early, and it bounds the work a post
# can cause, whatever its size.
BODY_SCAN_BYTES = 128 * 1024
# Defer means nothing for a filter; one stored by hand with it is skipped.
FILTER_ACTIONS = frozenset({Action.ACCEPT, Action.HOLD, Action.REJECT, Action.DISCARD})


@register_rule
class HeaderFilters(Rule):
    """The list's filters run in their order, each a regular expression
    (RE2, case-insensitive) on every value of one header, decoded and
    unfolded, or on the post's text (multi-line: ^ and $ match at each
    line). The first that matches decides: accept ends the chain with
    accept; hold, reject and discard are taken as moderation actions are."""

    name = "header-filters"
    description = gettext_lazy("Apply the list's header and body filters.")
    on_hit = OnHit.MODERATE

    def check(self, mlist, msg, state):
        body: str | None = None
        for number, content_filter in enumerate(configuration_of(mlist, state).filters, 1):
            if content_filter.action not in FILTER_ACTIONS:
                continue
            is_body = content_filter.part == FilterPart.BODY
            pattern = compiled_or_none(content_filter.pattern, multiline=is_body)
            if pattern is None:
                continue
            if is_body:
                body = body_text(msg) if body is None else body
                matched = pattern.search(body) is not None
            else:
                matched = header_matches(msg, content_filter.header, pattern)
            if matched:
                state.moderation_action = content_filter.action
                state.reasons.append(reason(number, content_filter))
                return True
        return False


def header_matches(msg: EmailMessage, name: str, pattern: SafePattern) -> bool:
    """Whether any `name` header of `msg`, decoded, matches `pattern`."""
    return any(pattern.search(decode_header_value(value)) for value in raw_headers(msg, name))


def body_text(msg: EmailMessage) -> str:
    """The text of the text parts of `msg`, each decoded by its charset
    (leniently), up to BODY_SCAN_BYTES in all."""
    texts = []
    remaining = BODY_SCAN_BYTES
    for part in msg.walk():
        if remaining <= 0:
            break
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        chunk = payload[:remaining]
        remaining -= len(chunk)
        # clean_text: a codec such as unicode-escape can yield lone surrogates.
        texts.append(clean_text(chunk.decode(part_charset(part) or "utf-8", "replace")).replace("\r\n", "\n"))
    return "\n".join(texts)


def reason(number: int, content_filter: ContentFilter) -> str:
    # The pattern stays out: a rejected sender reads the reasons too.
    if content_filter.part == FilterPart.BODY:
        return _("The message's text matches the list's filter %(number)d") % {"number": number}
    return _("The message's %(header)s header matches the list's filter %(number)d") % {
        "header": content_filter.header,
        "number": number,
    }
