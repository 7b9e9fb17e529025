"""The mail path in Django admin: what arrived (and what was parked, with its
error), held messages, posts with their delivery progress, and batches.

All of it is read-only: rows here change only through the mail path and the
moderation functions, which the actions below call."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from messages import moderation
from messages.delivery import progress
from messages.dispatch import retry
from messages.models import (
    DeliveryBatch,
    HeldMessage,
    HeldStatus,
    InboundMessage,
    InboundStatus,
    ModerationRecord,
    Post,
)
from messages.moderation_log import Via

# Enough of a message to recognise it; the whole of a 40 MB one would stall the page.
PREVIEW_BYTES = 64 * 1024


def raw_preview(raw: bytes) -> str:
    text = bytes(raw[:PREVIEW_BYTES]).decode("utf-8", errors="replace")
    if len(raw) > PREVIEW_BYTES:
        text += "\n[…]"
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["pk", "received_at", "rcpt_to", "mail_from", "destination", "status", "size", "attempts"]
    list_filter = ["status", "destination", "mailing_list"]
    search_fields = ["rcpt_to", "mail_from", "message_id"]
    list_select_related = ["mailing_list__domain"]
    date_hierarchy = "received_at"
    exclude = ["raw"]
    readonly_fields = ["message"]
    actions = ["retry_processing"]

    @admin.display(description=_("message as received"))
    def message(self, obj: InboundMessage) -> str:
        return raw_preview(obj.raw)

    @admin.action(description=_("Process the selected parked or queued messages again"))
    def retry_processing(self, request: HttpRequest, queryset: QuerySet) -> None:
        retried = [row for row in queryset if row.status in (InboundStatus.PARKED, InboundStatus.QUEUED)]
        for row in retried:
            retry(row)
        self.message_user(
            request, ngettext("%d message queued again.", "%d messages queued again.", len(retried)) % len(retried)
        )


@admin.register(HeldMessage)
class HeldMessageAdmin(ReadOnlyAdmin):
    list_display = ["held_at", "mailing_list", "sender", "subject", "status", "reason_list"]
    list_filter = ["status", "mailing_list"]
    search_fields = ["sender", "subject"]
    list_select_related = ["mailing_list__domain"]
    actions = ["approve", "discard"]

    @admin.display(description=_("reasons"))
    def reason_list(self, obj: HeldMessage) -> str:
        return "; ".join(obj.reasons)

    def decide(self, request: HttpRequest, queryset: QuerySet, decision) -> None:
        done = 0
        for held in queryset.filter(status=HeldStatus.PENDING):
            try:
                decision(held, request.user, via=Via.ADMIN)
                done += 1
            except moderation.ModerationError as exc:
                self.message_user(request, f"{held}: {exc}", messages.ERROR)
        self.message_user(request, ngettext("%d message decided.", "%d messages decided.", done) % done)

    @admin.action(description=_("Approve the selected held messages"))
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.decide(request, queryset, moderation.approve)

    @admin.action(description=_("Discard the selected held messages"))
    def discard(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.decide(request, queryset, moderation.discard)


@admin.register(ModerationRecord)
class ModerationRecordAdmin(ReadOnlyAdmin):
    """The moderation log; written only by the moderation functions, never edited."""

    list_display = ["at", "mailing_list", "kind", "action", "sender", "subject", "actor", "actor_email", "via"]
    list_filter = ["kind", "action", "via", "mailing_list"]
    search_fields = ["sender", "subject", "actor_email"]
    list_select_related = ["mailing_list__domain", "actor"]
    date_hierarchy = "at"

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class DeliveryBatchInline(admin.TabularInline):
    model = DeliveryBatch
    fields = ["status", "recipient_count", "sent_count", "failed_count", "attempts", "next_attempt_at", "failures"]
    readonly_fields = fields
    can_delete = False
    extra = 0
    max_num = 0
    show_change_link = True


@admin.register(Post)
class PostAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "mailing_list", "sequence", "subject", "sender", "recipient_count", "delivery"]
    list_filter = ["mailing_list"]
    search_fields = ["subject", "sender", "message_id"]
    list_select_related = ["mailing_list__domain"]
    date_hierarchy = "created_at"
    exclude = ["raw"]
    readonly_fields = ["delivery", "message"]
    inlines = [DeliveryBatchInline]

    @admin.display(description=_("delivery (sent / failed / pending of total)"))
    def delivery(self, obj: Post) -> str:
        p = progress(obj)
        return f"{p.sent} / {p.failed} / {p.pending} of {p.total}"

    @admin.display(description=_("message as posted"))
    def message(self, obj: Post) -> str:
        return raw_preview(obj.raw)


@admin.register(DeliveryBatch)
class DeliveryBatchAdmin(ReadOnlyAdmin):
    list_display = ["pk", "post", "status", "recipient_count", "sent_count", "failed_count", "attempts"]
    list_filter = ["status"]
    list_select_related = ["post__mailing_list__domain"]
    search_fields = ["recipients"]
    raw_id_fields = ["post"]
