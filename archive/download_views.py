"""What readers download from an archive: attachments and mbox files.

An attachment is whatever a sender attached, so it is served as if it were
hostile: only types a browser merely displays (ATTACHMENT_INLINE_TYPES) are
shown in the browser; anything else (HTML, SVG, XML, scripts, PDF, ...) is
a download of application/octet-stream. Every answer forbids sniffing and
carries a sandboxing Content-Security-Policy, so that even a mislabelled
file cannot run in the site's origin.
"""

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from archive import browsing
from archive.mbox import mbox_stream
from archive.models import ArchivedMessage, Attachment
from archive.view_access import archive_file, members_file
from lists.models import MailingList

ATTACHMENT_INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "text/plain"})
# No scripts, no plugins, no forms, no requests anywhere: an image shown
# directly, or text, needs none of them.
ATTACHMENT_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


@require_GET
@archive_file
def attachment(
    request: HttpRequest, mlist: MailingList, message_id_hash: str, counter: int, filename: str
) -> HttpResponse:
    """The attachment `counter` of a message; the `filename` in the URL is for the reader only."""
    part = get_object_or_404(
        Attachment, message__mailing_list=mlist, message__message_id_hash=message_id_hash, counter=counter
    )
    content = bytes(part.content)
    inline = part.content_type in ATTACHMENT_INLINE_TYPES
    content_type = served_type(part.content_type, content) if inline else "application/octet-stream"
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(not inline, download_name(part))
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = ATTACHMENT_CSP
    return response


def served_type(content_type: str, content: bytes) -> str:
    """Text is served as UTF-8 when it is; otherwise the browser's default applies."""
    if content_type == "text/plain":
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return content_type
        return "text/plain; charset=utf-8"
    return content_type


def download_name(part: Attachment) -> str:
    """The attachment's filename, printable and without a path (Content-Disposition
    and the URL encode the rest), or a made-up one."""
    name = "".join(char if char not in "/\\" else "_" for char in part.filename if char.isprintable())
    return name.strip(" .") or f"attachment-{part.counter}"


def attachment_url(mlist: MailingList, message: ArchivedMessage, part: Attachment) -> str:
    return reverse(
        "archive-attachment", args=[mlist.list_id, message.message_id_hash, part.counter, download_name(part)]
    )


@require_GET
@members_file
def export_mbox(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    """The whole archive, or the month ?month=YYYY-MM of it, as an mboxrd file, oldest first."""
    messages = ArchivedMessage.objects.filter(mailing_list=mlist)
    month = request.GET.get("month")
    name = mlist.list_id
    if month is not None:
        try:
            start, end = browsing.parse_month(month)
        except ValueError:
            return HttpResponse(_("month: write it YYYY-MM."), status=400, content_type="text/plain; charset=utf-8")
        messages = messages.filter(date__gte=start, date__lt=end)
        name = f"{name}-{month}"
    response = StreamingHttpResponse(mbox_stream(messages), content_type="application/mbox")
    response["Content-Disposition"] = content_disposition_header(True, f"{name}.mbox")
    response["X-Content-Type-Options"] = "nosniff"
    return response
