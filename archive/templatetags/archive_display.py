"""Template filters of the archive pages: text as its reader may see it."""

from django import template

from archive.models import ArchivedMessage
from archive.obfuscation import displayed

register = template.Library()


@register.filter
def shown(text: str, shows_addresses: bool) -> str:
    """`{{ message.body|shown:addresses_shown }}`: addresses obfuscated unless shown."""
    return displayed(text or "", shows_addresses)


@register.filter
def sender(message: ArchivedMessage, shows_addresses: bool) -> str:
    """The sender's name, else their address, as the reader may see it."""
    return displayed(message.sender_name or message.sender_address, shows_addresses)
