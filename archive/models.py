"""The archive: each list's archived messages, grouped into threads.

A message is found by its list and Message-ID (through `message_id_hash`,
which is also its permalink: Mailman 3's X-Message-ID-Hash, so HyperKitty
permalinks carry over). Threads are kept by archive.threading; their counts
are kept up to date as messages arrive, so the pages read them, never
count them.
"""

from django.db import models

from lists.models import MailingList
from messages.models import Post


class ListArchive(models.Model):
    """A list's archive as a whole: its counts, and the row that archiving
    locks so that one message at a time is threaded into the list."""

    mailing_list = models.OneToOneField(MailingList, on_delete=models.CASCADE, related_name="archive")
    message_count = models.PositiveIntegerField(default=0)
    thread_count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"archive of {self.mailing_list}"


class Thread(models.Model):
    """Messages connected by their Message-ID, In-Reply-To and References."""

    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="archive_threads")
    # The earliest message without a parent here; None only while the thread is being made.
    root = models.ForeignKey("ArchivedMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subject = models.TextField(blank=True)
    started_at = models.DateTimeField()
    last_activity = models.DateTimeField()
    message_count = models.PositiveIntegerField(default=0)
    participant_count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["mailing_list", "-last_activity"], name="archive_thread_list_active"),
            models.Index(fields=["mailing_list", "started_at"], name="archive_thread_list_started"),
        ]

    def __str__(self) -> str:
        return f"{self.mailing_list}: {self.subject[:60]} ({self.message_count})"


class ArchivedMessage(models.Model):
    """One message of a list's archive, as posted or imported."""

    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="archived_messages")
    # None for imported messages.
    post = models.OneToOneField(Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="archived")
    # Without angle brackets; derived from the content for a message without one.
    message_id = models.TextField()
    # base32(sha1(message_id)): unique in the list, the permalink's id.
    message_id_hash = models.CharField(max_length=32)
    sender_name = models.CharField(max_length=255, blank=True)
    sender_address = models.CharField(max_length=254, blank=True)
    subject = models.TextField(blank=True)
    # From Date:, or the receipt time when Date: is missing or not believable.
    date = models.DateTimeField()
    in_reply_to = models.TextField(blank=True)
    # The Message-IDs threaded on, oldest first, space-separated (see archive.threading).
    references = models.TextField(blank=True)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    # For display and search: decoded text/plain, or text converted from HTML; never raw HTML.
    body = models.TextField(blank=True)
    raw = models.BinaryField()
    size = models.PositiveIntegerField()
    is_broken = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # In the search index; the sweeper re-sends those left out (archive.search_indexing).
    indexed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailing_list", "message_id_hash"], name="unique_archived_message_id"),
        ]
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(indexed=False), name="archive_msg_unindexed"),
            models.Index(fields=["mailing_list", "date"], name="archive_msg_list_date"),
            models.Index(fields=["thread", "date"], name="archive_msg_thread_date"),
            models.Index(fields=["thread", "sender_address"], name="archive_msg_thread_sender"),
        ]

    def __str__(self) -> str:
        return f"{self.mailing_list} <{self.message_id[:60]}>: {self.subject[:60]}"


class Reference(models.Model):
    """A Message-ID a message is threaded on, whether or not that message is
    archived: how a parent that arrives later finds its waiting replies."""

    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(ArchivedMessage, on_delete=models.CASCADE, related_name="reference_rows")
    ref_hash = models.CharField(max_length=32)
    # 1 for the parent (In-Reply-To), 2 for the grandparent, ...
    distance = models.PositiveSmallIntegerField()

    class Meta:
        indexes = [models.Index(fields=["mailing_list", "ref_hash"], name="archive_ref_list_hash")]

    def __str__(self) -> str:
        return f"{self.message_id} -> {self.ref_hash} ({self.distance})"


class Attachment(models.Model):
    """A part of an archived message other than its displayed text."""

    message = models.ForeignKey(ArchivedMessage, on_delete=models.CASCADE, related_name="attachments")
    # Position among the message's attachments, from 1: the id in its URL.
    counter = models.PositiveIntegerField()
    filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=255)
    size = models.PositiveIntegerField()
    content = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "counter"], name="unique_attachment_counter"),
        ]

    def __str__(self) -> str:
        return f"{self.filename or self.content_type} ({self.size} bytes)"


class ArchiveNudge(models.Model):
    """When the sweeper last re-sent a post to the archive actor, so that it
    waits its grace period before sending it again (messages.sweeper)."""

    post = models.OneToOneField(Post, primary_key=True, on_delete=models.CASCADE, related_name="archive_nudge")
    nudged_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"post {self.post_id} nudged at {self.nudged_at}"


class WithdrawnPost(models.Model):
    """A post whose archived message an owner deleted: never archived again,
    neither by the sweeper nor by an archive nudge still in the queue."""

    post = models.OneToOneField(Post, primary_key=True, on_delete=models.CASCADE, related_name="archive_withdrawal")
    withdrawn_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"post {self.post_id} withdrawn from the archive at {self.withdrawn_at}"
