"""A list's archive as an Atom feed (RFC 4287): its latest messages, with
addresses obfuscated for readers who may not see them."""

import re

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from archive.access import shows_addresses
from archive.models import ArchivedMessage
from archive.obfuscation import displayed
from archive.view_access import archive_file
from lists.models import MailingList

FEED_LENGTH = 30
# Of each message's text, the feed carries the beginning.
SUMMARY_LENGTH = 2000
# Characters XML 1.0 does not allow (section 2.2), which mail may hold.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    return NOT_XML.sub("", text)


@require_GET
@archive_file
def archive_feed(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    shown = shows_addresses(request.user)

    def text(value: str) -> str:
        return xml_text(displayed(value, shown))

    name = mlist.display_name or mlist.list_name
    feed = Atom1Feed(
        title=text(_("%(list)s: the latest messages") % {"list": name}),
        link=request.build_absolute_uri(reverse("archive-index", args=[mlist.list_id])),
        description=text(mlist.description),
        feed_url=request.build_absolute_uri(),
        language=request.LANGUAGE_CODE,
    )
    latest = ArchivedMessage.objects.filter(mailing_list=mlist).defer("raw").order_by("-date", "-pk")[:FEED_LENGTH]
    for message in latest:
        url = request.build_absolute_uri(reverse("archive-message", args=[mlist.list_id, message.message_id_hash]))
        feed.add_item(
            title=text(message.subject or _("(no subject)")),
            link=url,
            unique_id=url,
            # Atom's summary here is HTML: the text is escaped to show as text.
            description=f"<pre>{escape(text(message.body[:SUMMARY_LENGTH]))}</pre>",
            author_name=text(message.sender_name or message.sender_address) or None,
            author_email=xml_text(message.sender_address) if shown and message.sender_address else None,
            pubdate=message.date,
            updateddate=message.date,
        )
    response = HttpResponse(content_type="application/atom+xml; charset=utf-8")
    feed.write(response, "utf-8")
    return response
