"""The catalogue of lifecycle events, emitted from this one place.

Services call `emit()` inside their transaction; receivers run only after
the commit, so they never see (or announce) a change that was rolled back.
Webhooks and plugins connect to these signals. Payloads (keyword arguments):

- list_created, list_configured: mailing_list (list_configured also changed);
  list_deleted: fqdn_listname, list_pk
- member_added, member_removed, member_changed: mailing_list, emails (a list,
  one or many for bulk changes), role (member_changed also changed)
- message_posted: post; message_held, held_message_decided: held
- archived_message_deleted: mailing_list, message_id, message_id_hash,
  deleted_by (the user, or None)
- subscription_requested: mailing_list, request (a members SubscriptionRequest
  awaiting an owner's approval), email; subscription_request_decided:
  mailing_list, request (status approved or rejected), email
"""

from django.db import transaction
from django.dispatch import Signal

list_created = Signal()
list_deleted = Signal()
list_configured = Signal()
member_added = Signal()
member_removed = Signal()
member_changed = Signal()
message_posted = Signal()
message_held = Signal()
held_message_decided = Signal()
archived_message_deleted = Signal()
subscription_requested = Signal()
subscription_request_decided = Signal()

CATALOGUE: dict[str, Signal] = {
    "list_created": list_created,
    "list_deleted": list_deleted,
    "list_configured": list_configured,
    "member_added": member_added,
    "member_removed": member_removed,
    "member_changed": member_changed,
    "message_posted": message_posted,
    "message_held": message_held,
    "held_message_decided": held_message_decided,
    "archived_message_deleted": archived_message_deleted,
    "subscription_requested": subscription_requested,
    "subscription_request_decided": subscription_request_decided,
}


def emit(event: str, **payload) -> None:
    """Send `event` with `payload` once the current transaction commits."""
    signal = CATALOGUE[event]
    transaction.on_commit(lambda: signal.send(sender=event, **payload), robust=True)
