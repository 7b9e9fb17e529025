from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from api import keys
from api.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made here; the plaintext is shown on the page after saving, once."""

    list_display = ["prefix", "name", "user", "scope", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "user__username", "user__email"]
    raw_id_fields = ["user"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return ["name", "user", "scope"]
        return ["name", "user", "scope", "prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        # A key's owner is fixed: moving a key to another account would hand them its holder's access.
        return self.readonly_fields if obj is None else [*self.readonly_fields, "user"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            # A plain attribute, not a field: response_add shows it, nothing stores it.
            obj.new_plaintext = keys.save_new_key(obj)

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        # Rendered straight into this response rather than put in a message, so the
        # plaintext never sits in a cookie or session.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "key": obj,
            "plaintext": obj.new_plaintext,
            "title": _("API key created"),
        }
        return TemplateResponse(request, "admin/api/apikey/created.html", context)

    @admin.action(description=_("Revoke selected API keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = queryset.filter(revoked_at__isnull=True)
        count = len(revoked)
        for key in revoked:
            keys.revoke_key(key)
        self.message_user(
            request, ngettext("Revoked %d API key.", "Revoked %d API keys.", count) % count, messages.SUCCESS
        )
