"""What a list address asks for: `ant@example.com` posts to list ant,
`ant-request@example.com` sends it commands, `ant-bounces+bob=example.org@...`
carries a VERP bounce for bob@example.org.

The LMTP receiver resolves each RCPT TO here, before the message body
arrives, so unknown addresses are refused at once.
"""

from dataclasses import dataclass

from lists.models import MailingList
from lists.services import LIST_NAME, MAIL_HOST
from messages.models import Destination, InboundMessage

# The subaddress suffixes of a list and what each one asks for.
SUFFIXES: dict[str, Destination] = {
    "request": Destination.REQUEST,
    "join": Destination.JOIN,
    "subscribe": Destination.JOIN,
    "leave": Destination.LEAVE,
    "unsubscribe": Destination.LEAVE,
    "confirm": Destination.CONFIRM,
    "owner": Destination.OWNER,
    "bounces": Destination.BOUNCES,
}

# The argument after "+" is kept as given, never lower-cased: a confirmation
# token or the local part inside a VERP address may be case-sensitive.
ARGUMENT_DELIMITER = "+"
MAX_ARGUMENT_LENGTH = InboundMessage._meta.get_field("subaddress_argument").max_length


class UnknownRecipient(Exception):
    """No list here has this address; str() is a message for people."""

    def __init__(self, address: str):
        super().__init__(f"No such list or list address: {address}")
        self.address = address


@dataclass(frozen=True)
class Recipient:
    """One resolved list address.

    `address` is the address as given; `argument` is the part after "+"
    (the TOKEN of `-confirm+TOKEN`, the `user=host` of `-bounces+user=host`),
    or "" when there is none.
    """

    address: str
    mailing_list: MailingList
    destination: Destination
    argument: str = ""


def resolve_recipient(address: str) -> Recipient:
    """Find the list and subaddress that `address` names, ignoring case.

    A list whose own name ends like a subaddress wins over the subaddress of
    a shorter list (a list `foo-owner` cannot be created today, but if one
    exists its posting address stays its own). Any address may carry a
    "+argument"; as in Mailman, `ant+tag@example.com` posts to ant. Raises
    UnknownRecipient.
    """
    local, at, host = address.strip().rpartition("@")
    base, _, argument = local.partition(ARGUMENT_DELIMITER)
    base, host = base.lower(), host.lower()
    candidates: dict[str, Destination] = {}
    if LIST_NAME.fullmatch(base):
        candidates[base] = Destination.POST
    head, _, suffix = base.rpartition("-")
    if suffix in SUFFIXES and LIST_NAME.fullmatch(head):
        candidates[head] = SUFFIXES[suffix]
    if not at or not candidates or not MAIL_HOST.fullmatch(host) or len(argument) > MAX_ARGUMENT_LENGTH:
        # Nothing a list here could be called: no need to ask the database.
        raise UnknownRecipient(address)
    found = list(MailingList.objects.select_related("domain").filter(domain__mail_host=host, list_name__in=candidates))
    if not found:
        raise UnknownRecipient(address)
    mlist = max(found, key=lambda mlist: len(mlist.list_name))
    return Recipient(address, mlist, candidates[mlist.list_name], argument)
