"""Admin for addresses, memberships and bans; every write is a service call."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from lists.models import MailingList
from mailman_site.service_admin import ServiceModelAdmin, adopt
from members import workflows
from members.models import Address, Ban, ConfirmationToken, Membership, RequestStatus, SubscriptionRequest
from members.services import (
    UPDATABLE,
    AlreadySubscribed,
    BannedAddress,
    InvalidAddress,
    InvalidBan,
    MembershipError,
    ban,
    delete_address,
    get_or_create_address,
    remove_membership,
    split_address,
    subscribe,
    unban,
    unlink_address,
    update_membership,
    verify_address,
)


class PresenceFilter(admin.SimpleListFilter):
    """Yes or no: is `field` set?"""

    field: str

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in ("yes", "no"):
            return queryset
        return queryset.filter(**{f"{self.field}__isnull": self.value() == "no"})


class VerifiedFilter(PresenceFilter):
    title = _("verified")
    parameter_name = "verified"
    field = "verified_at"


class LinkedFilter(PresenceFilter):
    title = _("linked to an account")
    parameter_name = "linked"
    field = "user"


class MailingListFilter(admin.RelatedFieldListFilter):
    """Filter by list, its labels read in one query rather than one per list."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[int, str]]:
        return [(mlist.pk, mlist.fqdn_listname) for mlist in MailingList.objects.select_related("domain")]


class AddressForm(forms.ModelForm):
    verify = forms.BooleanField(
        label=_("mark as verified"),
        required=False,
        help_text=_("Only when the owner of the address has confirmed it some other way."),
    )

    class Meta:
        model = Address
        fields = ["email", "display_name", "user"]

    def clean_email(self) -> str:
        try:
            email, _name = split_address(self.cleaned_data["email"])
        except InvalidAddress as exc:
            raise ValidationError(str(exc)) from None
        if Address.objects.filter(email=email.lower()).exists():
            raise ValidationError(_("This address exists already."))
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        verified = cleaned.get("verify") or self.instance.verified_at is not None
        if cleaned.get("user") and not verified:
            self.add_error("user", _("Only a verified address can be linked to an account."))
        return cleaned


@admin.register(Address)
class AddressAdmin(ServiceModelAdmin):
    form = AddressForm
    list_display = ["email", "display_name", "is_verified", "user", "created_at"]
    list_filter = [VerifiedFilter, LinkedFilter]
    search_fields = ["email", "display_name", "user__email"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    # Counting every address for "(N total)" is a second full count per page.
    show_full_result_count = False
    actions = ["mark_verified"]
    refusal_fields = {InvalidAddress: "email"}

    @admin.display(description=_("verified"), boolean=True, ordering="verified_at")
    def is_verified(self, address: Address) -> bool:
        return address.verified

    def get_fields(self, request: HttpRequest, obj: Address | None = None) -> list[str]:
        if obj is None:
            return ["email", "display_name", "verify", "user"]
        verify = [] if obj.verified else ["verify"]
        return ["email", "original_email", "display_name", "verified_at", *verify, "user", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Address | None = None) -> list[str]:
        return [] if obj is None else ["email", "original_email", "display_name", "verified_at", "created_at"]

    def save_model(self, request: HttpRequest, obj: Address, form: AddressForm, change: bool) -> None:
        address = obj if change else get_or_create_address(form.cleaned_data["email"], obj.display_name)
        if "user" in form.changed_data and obj.user is None:
            unlink_address(address)
        elif form.cleaned_data.get("verify") or "user" in form.changed_data:
            address = verify_address(address.email, obj.user)
        adopt(obj, address)

    def delete_model(self, request: HttpRequest, obj: Address) -> None:
        delete_address(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for address in queryset:
            delete_address(address)

    @admin.action(description=_("Mark selected addresses as verified"))
    def mark_verified(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for address in queryset.filter(verified_at__isnull=True):
            verify_address(address.email)
            count += 1
        message = ngettext("%(count)d address marked verified.", "%(count)d addresses marked verified.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(ServiceModelAdmin):
    list_display = [
        "address",
        "mailing_list",
        "role",
        "delivery_mode",
        "delivery_status",
        "moderation_action",
        "subscribed_at",
    ]
    list_filter = ["role", "delivery_mode", "delivery_status", ("mailing_list", MailingListFilter)]
    search_fields = [
        "address__email",
        "address__display_name",
        "mailing_list__list_name",
        "mailing_list__domain__mail_host",
    ]
    list_select_related = ["address", "mailing_list__domain"]
    autocomplete_fields = ["mailing_list", "address"]
    show_full_result_count = False
    refusal_fields = {BannedAddress: "address", AlreadySubscribed: "address"}

    def get_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        if obj is None:
            return ["mailing_list", "address", "role", "delivery_mode", "moderation_action"]
        return [
            "mailing_list",
            "address",
            "role",
            "delivery_mode",
            "delivery_status",
            "moderation_action",
            "subscribed_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        return [] if obj is None else ["mailing_list", "address", "subscribed_at"]

    def save_model(self, request: HttpRequest, obj: Membership, form: forms.ModelForm, change: bool) -> None:
        if change:
            changes = {name: getattr(obj, name) for name in form.changed_data if name in UPDATABLE}
            if changes:
                update_membership(obj, **changes)
            return
        membership = subscribe(
            obj.mailing_list,
            obj.address.email,
            role=obj.role,
            # Left alone, the list's own default (regular or digests) applies.
            delivery_mode=obj.delivery_mode if "delivery_mode" in form.changed_data else None,
            moderation_action=obj.moderation_action,
        )
        adopt(obj, membership)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        remove_membership(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for membership in queryset.select_related("address", "mailing_list__domain"):
            remove_membership(membership)


@admin.register(Ban)
class BanAdmin(ServiceModelAdmin):
    fields = ["mailing_list", "email", "created_at"]
    readonly_fields = ["created_at"]
    list_display = ["email", "mailing_list", "created_at"]
    list_filter = [("mailing_list", MailingListFilter)]
    search_fields = ["email", "mailing_list__list_name", "mailing_list__domain__mail_host"]
    list_select_related = ["mailing_list__domain"]
    autocomplete_fields = ["mailing_list"]
    empty_value_display = _("(site-wide)")
    refusal_fields = {InvalidBan: "email"}

    # A ban is lifted and made anew, never edited in place.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Ban, form: forms.ModelForm, change: bool) -> None:
        adopt(obj, ban(obj.mailing_list, obj.email))

    def delete_model(self, request: HttpRequest, obj: Ban) -> None:
        unban(obj.mailing_list, obj.email)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for row in queryset:
            unban(row.mailing_list, row.email)


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Rows that only their workflow writes; the admin looks and acts through it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SubscriptionRequest)
class SubscriptionRequestAdmin(ReadOnlyModelAdmin):
    list_display = ["requested_at", "mailing_list", "email", "display_name", "via", "status", "deferred_at"]
    list_filter = ["status", "via", "mailing_list"]
    search_fields = ["email", "display_name"]
    list_select_related = ["mailing_list__domain"]
    actions = ["approve", "reject", "defer"]

    def decide(self, request: HttpRequest, queryset: QuerySet, decision) -> None:
        done = 0
        for pending in queryset.filter(status=RequestStatus.PENDING):
            try:
                decision(pending, request.user, via="admin")
                done += 1
            except MembershipError as exc:
                self.message_user(request, f"{pending.email}: {exc}", messages.ERROR)
        self.message_user(request, ngettext("%d request decided.", "%d requests decided.", done) % done)

    @admin.action(description=_("Approve the selected requests"))
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.decide(request, queryset, workflows.approve_request)

    @admin.action(description=_("Reject the selected requests"))
    def reject(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.decide(request, queryset, workflows.reject_request)

    @admin.action(description=_("Defer the selected requests"))
    def defer(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.decide(request, queryset, workflows.defer_request)


@admin.register(ConfirmationToken)
class ConfirmationTokenAdmin(ReadOnlyModelAdmin):
    # Only the token's hash is stored; nothing here can be used to confirm.
    list_display = ["created_at", "mailing_list", "email", "action", "expires_at", "used_at"]
    list_filter = ["action", "mailing_list"]
    search_fields = ["email"]
    exclude = ["digest"]
    list_select_related = ["mailing_list__domain"]
