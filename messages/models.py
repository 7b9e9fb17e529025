"""The mail path's rows: what arrived, what was posted, what is held, and
the delivery batches that carry a post to its members.

The database is the source of truth; a broker message only says "look at
row N". Every row here can be picked up again after any process dies.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from lists.models import MailingList


class Destination(models.TextChoices):
    """What an LMTP recipient address asks for (its subaddress)."""

    POST = "post", _("post")
    REQUEST = "request", _("commands (-request)")
    JOIN = "join", _("join (-join, -subscribe)")
    LEAVE = "leave", _("leave (-leave, -unsubscribe)")
    CONFIRM = "confirm", _("confirmation (-confirm+token)")
    OWNER = "owner", _("owners (-owner)")
    BOUNCES = "bounces", _("bounces (-bounces)")


class InboundStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    PROCESSING = "processing", _("processing")
    ACCEPTED = "accepted", _("accepted and posted")
    HELD = "held", _("held for moderation")
    REJECTED = "rejected", _("rejected")
    DISCARDED = "discarded", _("discarded")
    FORWARDED = "forwarded", _("forwarded to the owners")
    # Filtered out by the MIME filter and kept for the site's admins.
    PRESERVED = "preserved", _("preserved for the site's admins")
    DUPLICATE = "duplicate", _("duplicate of an earlier delivery")
    # Stored and visible, but no part of the project handles it yet.
    NOT_HANDLED = "not_handled", _("not handled yet")
    # Processing failed; the error is shown to admins and the row can be retried.
    PARKED = "parked", _("parked with an error")


class InboundMessage(models.Model):
    """One message for one list address, exactly as the MTA gave it to us."""

    received_at = models.DateTimeField(_("received"), auto_now_add=True, db_index=True)
    mailing_list = models.ForeignKey(MailingList, null=True, on_delete=models.SET_NULL, related_name="inbound_messages")
    destination = models.CharField(max_length=16, choices=Destination.choices)
    # The part after "+" in -confirm+TOKEN or -bounces+VERP.
    subaddress_argument = models.CharField(max_length=255, blank=True)
    mail_from = models.CharField(_("envelope sender"), max_length=998, blank=True)
    rcpt_to = models.CharField(_("envelope recipient"), max_length=998)
    raw = models.BinaryField(_("message as received"))
    size = models.PositiveIntegerField()
    message_id = models.CharField(max_length=998, blank=True)
    # SHA-256 of the raw bytes: with the Message-ID it recognises a retried delivery.
    digest = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=InboundStatus.choices, default=InboundStatus.QUEUED)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # While PROCESSING: until when the worker's claim holds; after it, a
    # worker that died mid-message is presumed gone and the row is taken over.
    claimed_until = models.DateTimeField(null=True, blank=True)
    # When the sweeper last re-sent this row's broker message.
    nudged_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["status", "received_at"], name="inbound_status_idx"),
            models.Index(fields=["mailing_list", "message_id"], name="inbound_msgid_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} to {self.rcpt_to} ({self.status})"


class Post(models.Model):
    """An accepted post, after the handlers, stored once for archive and delivery."""

    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="posts")
    inbound = models.OneToOneField(InboundMessage, null=True, on_delete=models.SET_NULL, related_name="post")
    sequence = models.PositiveIntegerField(_("post number"))
    message_id = models.CharField(max_length=998, blank=True)
    sender = models.CharField(max_length=998, blank=True)
    subject = models.TextField(blank=True)
    raw = models.BinaryField(_("message as posted"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    recipient_count = models.PositiveIntegerField(default=0)
    # DMARC: the members' copies go out with this applied (munge_from or
    # wrap_message; messages.handlers.dmarc); `raw` keeps the author's From.
    dmarc_mitigation = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["mailing_list", "sequence"], name="unique_post_sequence"),
        ]

    def __str__(self) -> str:
        return f"{self.mailing_list} #{self.sequence}: {self.subject[:60]}"


class HeldStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    DISCARDED = "discarded", _("discarded")
    # Not decided within the list's max_days_to_hold.
    EXPIRED = "expired", _("expired")


class HeldMessage(models.Model):
    """A post a rule held for a moderator's decision."""

    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="held_messages")
    inbound = models.OneToOneField(InboundMessage, on_delete=models.CASCADE, related_name="held")
    sender = models.CharField(max_length=998, blank=True)
    subject = models.TextField(blank=True)
    reasons = models.JSONField(default=list, help_text=_("Why it was held, one sentence a reason."))
    held_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=16, choices=HeldStatus.choices, default=HeldStatus.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-held_at"]

    def __str__(self) -> str:
        return f"held on {self.mailing_list}: {self.subject[:60]}"


class ModerationKind(models.TextChoices):
    POST = "post", _("held post")
    SUBSCRIPTION = "subscription", _("subscription request")


class ModerationRecord(models.Model):
    """One thing a moderator (or the site, for expiry) did, for the list's
    owners to read: who, what, when, on which held post or request."""

    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="moderation_records")
    kind = models.CharField(max_length=16, choices=ModerationKind.choices, default=ModerationKind.POST)
    held_message = models.ForeignKey(
        HeldMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="records"
    )
    # What it was about, kept when the held post or request is gone.
    sender = models.CharField(max_length=998, blank=True)
    subject = models.TextField(blank=True)
    action = models.CharField(max_length=32)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Who acted when there is no user: the address of an approval by mail, or "site".
    actor_email = models.CharField(max_length=254, blank=True)
    via = models.CharField(max_length=16, blank=True, help_text=_("web, email, api, admin or site."))
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} on {self.mailing_list} by {self.actor or self.actor_email or 'site'}"


class BatchStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    CLAIMED = "claimed", _("being sent")
    RETRY = "retry", _("waiting to retry")
    DONE = "done", _("done")


class DeliveryBatch(models.Model):
    """Up to a few hundred recipients of one post, sent together.

    Recipients are one text column (an address a line) rather than a row
    each: a 100,000-member list is a few hundred rows, not 100,000. Only
    failures are listed, with their SMTP replies.
    """

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="batches")
    recipients = models.TextField()
    recipient_count = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=BatchStatus.choices, default=BatchStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    # [{"email": ..., "code": 550, "reply": "...", "permanent": true}]
    failures = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["post", "pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="batch_due_idx"),
        ]

    def __str__(self) -> str:
        return f"batch {self.pk} of {self.post} ({self.status})"

    @property
    def recipient_list(self) -> list[str]:
        return self.recipients.split("\n") if self.recipients else []


class ConfigurationStamp(models.Model):
    """One row whose `stamp` changes whenever a list's or the site's bans,
    content filters or list templates change, in the same transaction as
    the change. Triggers in the database make the change (migration
    0005_configuration_stamp), so every way of writing those rows counts:
    the services, the admin, the API, bulk queryset updates, another
    process, raw SQL. A process that keeps what it read of that
    configuration (messages.list_configuration) reuses it only while the
    stamp is the one it read it under.

    The stamp is random, not a counter: a rolled-back change must not give
    back a value that some process already saw with other rows behind it."""

    stamp = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"configuration stamp {self.stamp}"
