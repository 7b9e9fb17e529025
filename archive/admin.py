"""The archive in Django admin: archived messages (broken ones, with their
error, found by a filter) and threads. Read-only: rows change only through
archive.services, and a message is deleted from its archive page, which
repairs its thread (archive.deletion)."""

from django.contrib import admin
from django.http import HttpRequest

from archive.models import ArchivedMessage, Thread
from messages.admin import raw_preview


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ArchivedMessage)
class ArchivedMessageAdmin(ReadOnlyAdmin):
    list_display = ["pk", "date", "mailing_list", "sender_address", "subject", "size", "is_broken"]
    list_filter = ["is_broken", "mailing_list"]
    search_fields = ["message_id", "sender_address", "subject"]
    date_hierarchy = "date"
    list_select_related = ["mailing_list"]
    fields = [
        "mailing_list",
        "post",
        "message_id",
        "message_id_hash",
        "sender_name",
        "sender_address",
        "subject",
        "date",
        "in_reply_to",
        "references",
        "thread",
        "parent",
        "is_broken",
        "error",
        "body",
        "message",
        "created_at",
    ]
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="message as archived")
    def message(self, obj: ArchivedMessage) -> str:
        return raw_preview(obj.raw)


@admin.register(Thread)
class ThreadAdmin(ReadOnlyAdmin):
    list_display = ["pk", "mailing_list", "subject", "started_at", "last_activity", "message_count"]
    list_filter = ["mailing_list"]
    search_fields = ["subject"]
    list_select_related = ["mailing_list"]
    readonly_fields = [
        "mailing_list",
        "root",
        "subject",
        "started_at",
        "last_activity",
        "message_count",
        "participant_count",
    ]
    fields = readonly_fields
    show_full_result_count = False
