"""The built-in handlers, one per module; importing this package registers them."""

from messages.handlers import (  # noqa: F401
    cook_headers,
    decorate,
    dmarc,
    mime_delete,
    reply_to,
    rfc_2369,
    subject_prefix,
    to_archive,
    to_outgoing,
)
