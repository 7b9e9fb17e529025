"""Admin for domains and lists; every write is a service call."""

from collections import Counter
from itertools import islice
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import router
from django.db.models import Count, QuerySet
from django.db.models.deletion import Collector, ProtectedError, RestrictedError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from lists.models import ContentFilter, Domain, ListTemplate, MailingList
from lists.services import (
    FILTER_ACTIONS,
    NOT_CONFIGURABLE,
    DomainAlreadyExists,
    InvalidListName,
    ListAlreadyExists,
    configurable_fields,
    configure_list,
    create_domain,
    create_list,
    delete_domain,
    delete_list,
    set_content_filters,
    set_template,
    update_domain,
)
from lists.settings_forms import ChecksContentFilter
from mailman_site.service_admin import ServiceModelAdmin, adopt
from members.models import Membership, Role
from members.services import (
    UPDATABLE,
    InvalidAddress,
    parse_address,
    remove_membership,
    subscribe,
    update_membership,
)


@admin.register(Domain)
class DomainAdmin(ServiceModelAdmin):
    list_display = ["mail_host", "web_host", "description", "list_count"]
    search_fields = ["mail_host", "web_host", "description"]
    refusal_fields = {DomainAlreadyExists: "mail_host"}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(list_count=Count("lists"))

    @admin.display(description=_("lists"), ordering="list_count")
    def list_count(self, domain: Domain) -> int:
        return domain.list_count

    def get_readonly_fields(self, request: HttpRequest, obj: Domain | None = None) -> list[str]:
        # The mail host is the domain's identity: its lists' addresses end in it.
        return [] if obj is None else ["mail_host"]

    def save_model(self, request: HttpRequest, obj: Domain, form: forms.ModelForm, change: bool) -> None:
        if not change:
            adopt(obj, create_domain(obj.mail_host, web_host=obj.web_host, description=obj.description))
        elif form.changed_data:
            update_domain(obj, **{name: getattr(obj, name) for name in form.changed_data})

    def delete_model(self, request: HttpRequest, obj: Domain) -> None:
        delete_domain(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for domain in queryset:
            delete_domain(domain)


class MailingListForm(forms.ModelForm):
    owners = forms.CharField(
        label=_("owners"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One address per line; each is subscribed as an owner."),
    )
    # The stored value is a hash: it is replaced or removed, never shown.
    new_moderator_password = forms.CharField(
        label=_("moderator password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Stored hashed. Leave empty to keep the current password."),
    )
    remove_moderator_password = forms.BooleanField(label=_("remove the moderator password"), required=False)

    class Meta:
        model = MailingList
        fields = ["domain", "list_name", *(name for name in configurable_fields() if name != "moderator_password")]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields.pop("remove_moderator_password" if self.instance.pk is None else "owners")
        if "subject_prefix" in self.fields:
            # Its trailing space separates the prefix from the subject.
            self.fields["subject_prefix"].strip = False

    def clean_owners(self) -> list[str]:
        owners: dict[str, str] = {}
        errors = []
        for line in self.cleaned_data["owners"].splitlines():
            if not line.strip():
                continue
            try:
                owners.setdefault(parse_address(line)[0], line.strip())
            except InvalidAddress as exc:
                errors.append(str(exc))
        if errors:
            raise ValidationError(errors)
        return list(owners.values())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("new_moderator_password") and cleaned.get("remove_moderator_password"):
            raise ValidationError(_("Either set a new moderator password or remove it, not both."))
        return cleaned

    def settings(self) -> dict[str, Any]:
        """The settings this form changes, as configure_list takes them."""
        allowed = set(configurable_fields())
        changed = {name: self.cleaned_data[name] for name in self.changed_data if name in allowed}
        if self.cleaned_data.get("new_moderator_password"):
            changed["moderator_password"] = self.cleaned_data["new_moderator_password"]
        elif self.cleaned_data.get("remove_moderator_password"):
            changed["moderator_password"] = ""
        return changed


class OwnerInlineForm(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(role.value, role.label) for role in (Role.OWNER, Role.MODERATOR)]
        if self.instance.pk is None:
            self.initial["role"] = Role.OWNER
        else:
            # update_membership cannot move a membership to another address.
            self.fields["address"].disabled = True


class OwnerInline(admin.TabularInline):
    """Owners and moderators only: a list's members may number 100,000, and
    are paged through on the membership pages instead."""

    model = Membership
    form = OwnerInlineForm
    fields = ["address", "role", "subscribed_at"]
    readonly_fields = ["subscribed_at"]
    autocomplete_fields = ["address"]
    extra = 1
    verbose_name = _("owner or moderator")
    verbose_name_plural = _("owners and moderators")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(role__in=[Role.OWNER, Role.MODERATOR]).select_related("address")


class ContentFilterForm(ChecksContentFilter, forms.ModelForm):
    """One header or body filter, checked as lists.services checks it (RE2
    must compile the pattern), so an error shows beside the filter."""

    position = forms.IntegerField(
        label=_("position"), required=False, min_value=0, help_text=_("Lowest first; empty: after the others.")
    )

    class Meta:
        model = ContentFilter
        fields = ["position", "part", "header", "pattern", "action"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            # A blank new row is left out, not refused for its missing pattern.
            self.initial.pop("position", None)
        # Spaces in a pattern match spaces.
        self.fields["pattern"].strip = False
        self.fields["action"].choices = [
            (value, label) for value, label in self.fields["action"].choices if value in FILTER_ACTIONS
        ]


class ContentFilterInline(admin.TabularInline):
    """The list's header and body filters; the lowest position runs first."""

    model = ContentFilter
    form = ContentFilterForm
    fields = ["position", "part", "header", "pattern", "action"]
    ordering = ["position", "id"]
    extra = 1
    verbose_name = _("header or body filter")
    verbose_name_plural = _("header and body filters (regular expressions, first match wins)")


IDENTITY_FIELDS = ["domain", "list_name", "display_name", "description", "info", "created_at", "roster"]
MODERATOR_PASSWORD_FIELDS = ["new_moderator_password", "remove_moderator_password"]
SETTING_GROUPS: list[tuple[str, list[str]]] = [
    (
        _("Posting"),
        [
            "subject_prefix",
            "advertised",
            "emergency",
            "default_member_action",
            "default_nonmember_action",
            "max_message_size",
            "max_num_recipients",
            "require_explicit_destination",
            "acceptable_aliases",
            "administrivia",
            *MODERATOR_PASSWORD_FIELDS,
            "next_post_id",
        ],
    ),
    (
        _("Headers and decoration"),
        [
            "reply_goes_to_list",
            "reply_to_address",
            "first_strip_reply_to",
            "include_rfc2369_headers",
            "allow_list_posts",
            "anonymous_list",
            "personalize",
            "dmarc_mitigate_action",
            "dmarc_mitigate_unconditionally",
            "dmarc_moderation_notice",
            "dmarc_wrapped_message_text",
        ],
    ),
    (
        _("Membership"),
        [
            "subscription_policy",
            "unsubscription_policy",
            "member_roster_visibility",
            "send_welcome_message",
            "send_goodbye_message",
            "admin_immed_notify",
            "admin_notify_mchanges",
        ],
    ),
    (_("Archive"), ["archive_policy"]),
    (
        _("Digests"),
        [
            "digestable",
            "digest_is_default",
            "mime_is_default_digest",
            "digest_size_threshold",
            "digest_send_periodic",
            "digest_volume_frequency",
            "digest_last_sent_at",
            "volume",
            "next_digest_number",
        ],
    ),
]


def change_fieldsets() -> list[tuple[Any, dict[str, list[str]]]]:
    """Every list setting, grouped; a setting added to the model later shows under "Other"."""
    shown = {name for _, names in SETTING_GROUPS for name in names} | set(IDENTITY_FIELDS)
    other = [name for name in configurable_fields() if name not in shown and name != "moderator_password"]
    groups = [*SETTING_GROUPS, (_("Other"), other)] if other else SETTING_GROUPS
    return [(None, {"fields": IDENTITY_FIELDS}), *((title, {"fields": names}) for title, names in groups)]


@admin.register(MailingList)
class MailingListAdmin(ServiceModelAdmin):
    form = MailingListForm
    inlines = [OwnerInline, ContentFilterInline]
    list_display = ["posting_address", "display_name", "advertised", "subscription_policy", "archive_policy"]
    list_filter = ["domain", "advertised", "archive_policy", "subscription_policy", "emergency"]
    search_fields = ["list_name", "display_name", "description", "domain__mail_host"]
    list_select_related = ["domain"]
    add_fieldsets = [
        (
            None,
            {
                "fields": [
                    "domain",
                    "list_name",
                    "display_name",
                    "description",
                    "info",
                    "owners",
                    "advertised",
                    "subscription_policy",
                    "archive_policy",
                    "new_moderator_password",
                ]
            },
        )
    ]
    refusal_fields = {InvalidListName: "list_name", ListAlreadyExists: "list_name"}

    @admin.display(description=_("posting address"), ordering="list_name")
    def posting_address(self, mlist: MailingList) -> str:
        return mlist.posting_address

    @admin.display(description=_("roster"))
    def roster(self, mlist: MailingList) -> str:
        count = mlist.memberships.count()
        url = reverse("admin:members_membership_changelist") + "?" + urlencode({"mailing_list__id__exact": mlist.pk})
        label = ngettext("%(count)d membership", "%(count)d memberships", count) % {"count": count}
        return format_html('<a href="{}">{}</a>', url, label)

    def view_on_site(self, mlist: MailingList) -> str:
        return reverse("list-info", args=[mlist.fqdn_listname])

    def get_fieldsets(self, request: HttpRequest, obj: MailingList | None = None) -> list:
        return self.add_fieldsets if obj is None else change_fieldsets()

    def get_readonly_fields(self, request: HttpRequest, obj: MailingList | None = None) -> list[str]:
        if obj is None:
            return []
        return ["roster", *(name for name in NOT_CONFIGURABLE if name != "id")]

    def get_inlines(self, request: HttpRequest, obj: MailingList | None) -> list:
        # A new list's owners come from the "owners" field of the add form.
        return self.inlines if obj is not None else []

    def save_model(self, request: HttpRequest, obj: MailingList, form: MailingListForm, change: bool) -> None:
        settings = form.settings()
        if not change:
            owners = form.cleaned_data["owners"]
            adopt(obj, create_list(f"{obj.list_name}@{obj.domain.mail_host}", owners=owners, **settings))
        elif settings:
            configure_list(obj, **settings)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is ContentFilter:
            save_content_filters(formset)
            return
        formset.save(commit=False)
        for membership in formset.deleted_objects:
            remove_membership(membership)
        for membership, changed in formset.changed_objects:
            changes = {name: getattr(membership, name) for name in changed if name in UPDATABLE}
            if changes:
                update_membership(membership, **changes)
        for membership in formset.new_objects:
            adopt(membership, subscribe(formset.instance, membership.address.email, role=membership.role))

    def delete_model(self, request: HttpRequest, obj: MailingList) -> None:
        delete_list(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for mlist in queryset.select_related("domain"):
            delete_list(mlist)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[list, dict, set, list]:
        """Count what goes with the lists instead of naming every row, as the
        stock page does: a roster may hold 100,000 memberships. Deleting a
        list takes its roster with it, so no further permission is asked."""
        collector = Collector(using=router.db_for_write(MailingList), origin=objs)
        try:
            collector.collect(objs)
        except ProtectedError as exc:
            return [], {}, set(), [str(row) for row in islice(exc.protected_objects, 20)]
        except RestrictedError as exc:
            return [], {}, set(), [str(row) for row in islice(exc.restricted_objects, 20)]
        counts: Counter[str] = Counter()
        for model, rows in collector.data.items():
            counts[str(model._meta.verbose_name_plural)] += len(rows)
        for queryset in collector.fast_deletes:
            counts[str(queryset.model._meta.verbose_name_plural)] += queryset.count()
        return [str(mlist) for mlist in objs], dict(counts), set(), []


def save_content_filters(formset: Any) -> None:
    """The filters as the inline now shows them, in position order (then as
    shown), replace the list's filters in one service call."""
    # Not saved: this fills in what the admin's history message reads.
    formset.save(commit=False)
    if not formset.has_changed():
        return
    deleted = set(formset.deleted_forms) if formset.can_delete else set()
    kept = [
        (form.instance.position is None, form.instance.position or 0, index, form.instance)
        for index, form in enumerate(formset.forms)
        if form not in deleted and (form.instance.pk is not None or form.has_changed())
    ]
    set_content_filters(
        formset.instance,
        [
            {"part": row.part, "header": row.header, "pattern": row.pattern, "action": row.action}
            for *_order, row in sorted(kept, key=lambda entry: entry[:3])
        ],
    )


@admin.register(ListTemplate)
class ListTemplateAdmin(ServiceModelAdmin):
    list_display = ["name", "mailing_list", "updated_at"]
    list_filter = ["name", "mailing_list"]
    search_fields = ["text", "mailing_list__list_name"]
    list_select_related = ["mailing_list__domain"]
    raw_id_fields = ["mailing_list"]

    def save_model(self, request: HttpRequest, obj: ListTemplate, form: forms.ModelForm, change: bool) -> None:
        adopt(obj, set_template(obj.mailing_list, obj.name, obj.text))

    def delete_model(self, request: HttpRequest, obj: ListTemplate) -> None:
        set_template(obj.mailing_list, obj.name, "")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for template in queryset:
            self.delete_model(request, template)
