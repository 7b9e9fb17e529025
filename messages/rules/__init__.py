"""The built-in rules, one per module; importing this package registers them."""

from messages.rules import (  # noqa: F401
    administrivia,
    approved,
    banned_address,
    dmarc_mitigation,
    emergency,
    header_filters,
    implicit_dest,
    loop,
    max_recipients,
    max_size,
    member_moderation,
    no_senders,
    no_subject,
    nonmember_moderation,
    spam,
)
