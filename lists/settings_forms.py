"""The forms of a list's settings pages: moderation and content filtering,
and the ordered header and body filters.

Neither form writes a row: `save()` is a call to lists.services, which
validates again and applies all or nothing; what it refuses is put back
on the form, beside the field or the filter it names.
"""

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import model_to_dict
from django.utils.translation import gettext_lazy as _

from lists.models import FILTER_PATTERN_MAX_LENGTH, Action, ContentFilter, FilterPart, MailingList
from lists.services import (
    FILTER_ACTIONS,
    MAX_CONTENT_FILTERS,
    InvalidSetting,
    configure_list,
    content_filter_errors,
    set_content_filters,
)

# Generous for any list of types or any notice; a megabyte is refused.
TEXT_MAX_LENGTH = 10_000
# The largest value of a PostgreSQL integer, so that both databases take the same.
INTEGER_MAX = 2**31 - 1
# GTUBE scores 1000; SpamAssassin's thresholds are a few points.
SPAM_SCORE_MAX = 1000.0
# RFC 2045 section 5.1: type "/" subtype, each a token; Mailman also takes a bare type or type/*.
MIME_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,127}(/([A-Za-z0-9!#$&^_.+-]{1,127}|\*))?")
EXTENSION = re.compile(r"(\*?\.)?[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,63}")
PASSWORD_MAX_LENGTH = 128


class TextLinesField(forms.CharField):
    """Text whose lines end in \\n however the browser sent them, so that an
    unchanged textarea compares equal to the stored text."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("max_length", TEXT_MAX_LENGTH)
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str:
        return super().to_python(value).replace("\r\n", "\n").replace("\r", "\n")


class TokenLinesField(TextLinesField):
    """One MIME type or file name extension per line; blank lines dropped."""

    def __init__(self, *, token: re.Pattern, **kwargs: Any):
        super().__init__(**kwargs)
        self.token = token

    def to_python(self, value: Any) -> str:
        return "\n".join(line.strip() for line in super().to_python(value).split("\n") if line.strip())

    def validate(self, value: str) -> None:
        super().validate(value)
        bad = [line for line in value.split("\n") if line and not self.token.fullmatch(line)]
        if bad:
            raise ValidationError(
                _("Not understood: %(lines)s."), params={"lines": ", ".join(repr(line[:80]) for line in bad[:5])}
            )


def action_field(label: str, help_text: str) -> forms.ChoiceField:
    return forms.ChoiceField(label=label, choices=Action.choices, help_text=help_text)


def count_field(label: str, help_text: str, max_value: int = INTEGER_MAX) -> forms.IntegerField:
    return forms.IntegerField(label=label, min_value=0, max_value=max_value, help_text=help_text)


def flag(label: str, help_text: str = "") -> forms.BooleanField:
    return forms.BooleanField(label=label, required=False, help_text=help_text)


def spam_score_field(label: str, help_text: str) -> forms.FloatField:
    # forms.FloatField already refuses NaN and infinity.
    return forms.FloatField(label=label, required=False, min_value=0, max_value=SPAM_SCORE_MAX, help_text=help_text)


class ModerationSettingsForm(forms.Form):
    """Posting moderation, notices, spam, the MIME filter and DMARC of one
    list, by Mailman's setting names. The moderator password is write-only."""

    # Posting moderation
    emergency = flag(_("Emergency moderation"), _("Hold every post for a moderator, from members too."))
    default_member_action = action_field(
        _("Posts of members"),
        _("Unless a member has an action of their own. Defer: go on to the other checks."),
    )
    default_nonmember_action = action_field(
        _("Posts of non-members"), _("Unless the sender has an action of their own.")
    )
    max_message_size = count_field(_("Largest post (KB)"), _("Larger posts are held; 0: no limit."))
    max_num_recipients = count_field(
        _("Most recipients"), _("Posts addressed to this many or more are held; 0: no limit.")
    )
    require_explicit_destination = flag(
        _("Require the list in To or Cc"), _("Hold posts that reach the list only as a Bcc.")
    )
    administrivia = flag(_("Hold administrivia"), _("Hold posts that look like subscribe or unsubscribe requests."))
    new_moderator_password = forms.CharField(
        label=_("New moderator password"),
        required=False,
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("For the Approved: header of a post. Stored hashed; leave empty to keep the current one."),
    )
    remove_moderator_password = flag(_("Remove the moderator password"))

    # Notices
    admin_immed_notify = flag(_("Tell the moderators of each held post at once"))
    respond_to_post_requests = flag(_("Tell the sender that their post waits for a moderator"))
    send_moderation_summary = flag(_("Send the moderators a daily summary of what waits"))
    max_days_to_hold = count_field(
        _("Days a held post waits"), _("Then it is discarded and the owners are told; 0: it waits."), 32767
    )

    # Spam
    spam_hold_score = spam_score_field(
        _("Hold at this spam score"), _("SpamAssassin's score, for example 5; empty: never.")
    )
    spam_discard_score = spam_score_field(_("Discard at this spam score"), _("Empty: never."))

    # MIME filter
    filter_content = flag(_("Filter the parts of posts"), _("The settings below apply only when this is on."))
    filter_types = TokenLinesField(
        token=MIME_TYPE, label=_("Remove these MIME types"), help_text=_("One per line: text/html, or image.")
    )
    filter_extensions = TokenLinesField(
        token=EXTENSION, label=_("Remove attachments ending in"), help_text=_("One per line: exe, or .zip.")
    )
    pass_types = TokenLinesField(
        token=MIME_TYPE, label=_("Keep only these MIME types"), help_text=_("Empty: keep every other type.")
    )
    pass_extensions = TokenLinesField(
        token=EXTENSION, label=_("Keep only attachments ending in"), help_text=_("Empty: keep every other one.")
    )
    collapse_alternatives = flag(_("Keep only the first of alternative parts"))
    convert_html_to_plaintext = flag(_("Convert HTML parts to plain text"))
    filter_action = forms.ChoiceField(
        label=_("A post left empty"),
        choices=MailingList._meta.get_field("filter_action").choices,
        help_text=_("What is done with a post that has nothing left after filtering."),
    )

    # DMARC
    dmarc_mitigate_action = forms.ChoiceField(
        label=_("DMARC mitigation"),
        choices=MailingList._meta.get_field("dmarc_mitigate_action").choices,
        help_text=_("For posts from domains whose DMARC policy would make receivers refuse the list's copy."),
    )
    dmarc_mitigate_unconditionally = flag(_("Mitigate every post, whatever its domain's policy"))
    dmarc_quarantine_moderation_action = flag(_("Also when the policy is quarantine"))
    dmarc_none_moderation_action = flag(_("Also when the policy is none"))
    dmarc_moderation_notice = TextLinesField(
        label=_("Notice to a rejected sender"), help_text=_("Empty: a standard notice.")
    )
    dmarc_wrapped_message_text = TextLinesField(label=_("Text above a wrapped post"), help_text=_("Empty: none."))

    GROUPS = (
        (
            _("Posting moderation"),
            (
                "emergency",
                "default_member_action",
                "default_nonmember_action",
                "max_message_size",
                "max_num_recipients",
                "require_explicit_destination",
                "administrivia",
                "new_moderator_password",
                "remove_moderator_password",
            ),
        ),
        (
            _("Notices"),
            ("admin_immed_notify", "respond_to_post_requests", "send_moderation_summary", "max_days_to_hold"),
        ),
        (_("Spam"), ("spam_hold_score", "spam_discard_score")),
        (
            _("MIME filter"),
            (
                "filter_content",
                "filter_types",
                "filter_extensions",
                "pass_types",
                "pass_extensions",
                "collapse_alternatives",
                "convert_html_to_plaintext",
                "filter_action",
            ),
        ),
        (
            _("DMARC"),
            (
                "dmarc_mitigate_action",
                "dmarc_mitigate_unconditionally",
                "dmarc_quarantine_moderation_action",
                "dmarc_none_moderation_action",
                "dmarc_moderation_notice",
                "dmarc_wrapped_message_text",
            ),
        ),
    )
    PASSWORD_FIELDS = ("new_moderator_password", "remove_moderator_password")

    def __init__(self, *args: Any, mlist: MailingList, **kwargs: Any):
        settings = [name for name in self.base_fields if name not in self.PASSWORD_FIELDS]
        super().__init__(*args, initial=model_to_dict(mlist, fields=settings), **kwargs)
        self.mlist = mlist
        self.settings_names = settings

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in self.GROUPS]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("new_moderator_password") and cleaned.get("remove_moderator_password"):
            raise ValidationError(_("Either set a new moderator password or remove it, not both."))
        hold, discard = cleaned.get("spam_hold_score"), cleaned.get("spam_discard_score")
        if hold is not None and discard is not None and discard < hold:
            self.add_error("spam_discard_score", _("Give at least the hold score, or leave it empty."))
        return cleaned

    def changes(self) -> dict[str, Any]:
        """The settings this form changes, as configure_list takes them."""
        changed = {name: self.cleaned_data[name] for name in self.changed_data if name in self.settings_names}
        if self.cleaned_data["new_moderator_password"]:
            changed["moderator_password"] = self.cleaned_data["new_moderator_password"]
        elif self.cleaned_data["remove_moderator_password"] and self.mlist.moderator_password:
            changed["moderator_password"] = ""
        return changed

    def save(self) -> list[str]:
        """Apply the changes through configure_list, all or none, and return
        the names of those changed; on InvalidSetting none, and the form gets
        the errors."""
        changes = self.changes()
        if not changes:
            return []
        try:
            configure_list(MailingList.objects.get(pk=self.mlist.pk), **changes)
        except InvalidSetting as exc:
            for name, messages in exc.errors.items():
                field = "new_moderator_password" if name == "moderator_password" else name
                if field in self.fields:
                    self.add_error(field, messages)
                else:
                    # A setting of another page, invalid as stored (by an import, say).
                    self.add_error(None, [f"{name}: {message}" for message in messages])
            return []
        return sorted(changes)


FILTER_FIELDS = ("part", "header", "pattern", "action")


class ChecksContentFilter:
    """A form of one header or body filter whose clean() runs the service's
    own checks (lists.services.content_filter_errors: RE2 compiles the
    pattern, ...), each error beside its field. The page's form and the
    admin's inline form both use it."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        fields = {name: cleaned.get(name) or "" for name in FILTER_FIELDS}
        for name, messages in content_filter_errors(**fields).items():
            if name not in self.errors:
                self.add_error(name, messages)
        return cleaned


class ContentFilterForm(ChecksContentFilter, forms.Form):
    """One header or body filter, checked as lists.services checks it."""

    position = forms.IntegerField(
        label=_("Position"),
        required=False,
        min_value=1,
        max_value=INTEGER_MAX,
    )
    part = forms.ChoiceField(label=_("Where"), choices=FilterPart.choices, initial=FilterPart.HEADER)
    header = forms.CharField(label=_("Header"), required=False, max_length=255)
    # Spaces in a pattern match spaces.
    pattern = forms.CharField(label=_("Pattern"), required=False, strip=False, max_length=FILTER_PATTERN_MAX_LENGTH)
    action = forms.ChoiceField(
        label=_("Action"),
        choices=[(value, label) for value, label in Action.choices if value in FILTER_ACTIONS],
        initial=Action.HOLD,
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The page shows the filters as a table whose column heads are the labels.
        for field in self.fields.values():
            field.widget.attrs.setdefault("aria-label", field.label)

    def spec(self) -> dict[str, str]:
        return {name: self.cleaned_data[name] for name in FILTER_FIELDS}


class BaseContentFilterFormSet(forms.BaseFormSet):
    def __init__(self, *args: Any, mlist: MailingList, **kwargs: Any):
        rows = ContentFilter.objects.filter(mailing_list=mlist).order_by("position", "id")
        initial = [
            {"position": number, "part": row.part, "header": row.header, "pattern": row.pattern, "action": row.action}
            for number, row in enumerate(rows, 1)
        ]
        super().__init__(*args, initial=initial, **kwargs)
        self.mlist = mlist

    def clean(self) -> None:
        # A browser posts every row it showed; fewer would read as the rest deleted.
        if self.total_form_count() < self.initial_form_count():
            raise ValidationError(_("The form was incomplete; nothing was changed. Please try again."))

    def kept_forms(self) -> list[ContentFilterForm]:
        """The filters as the page now shows them, in position order, then as
        shown (a row without a number goes after the others); blank new rows
        and deleted ones left out."""
        kept = [
            (form.cleaned_data.get("position") is None, form.cleaned_data.get("position") or 0, index, form)
            for index, form in enumerate(self.forms)
            if (form.has_changed() or index < self.initial_form_count()) and not self._should_delete_form(form)
        ]
        return [form for *_order, form in sorted(kept, key=lambda entry: entry[:3])]

    def save(self) -> bool:
        """Replace the list's filters through set_content_filters, all or
        none; on InvalidSetting the forms get the errors and False."""
        kept = self.kept_forms()
        try:
            set_content_filters(self.mlist, [form.spec() for form in kept])
        except InvalidSetting as exc:
            for key, messages in exc.errors.items():
                number = key.removeprefix("filter ")
                if number.isdigit() and 0 < int(number) <= len(kept):
                    kept[int(number) - 1].add_error(None, messages)
                else:
                    self._non_form_errors.extend(messages)
            return False
        return True


ContentFilterFormSet = forms.formset_factory(
    ContentFilterForm,
    formset=BaseContentFilterFormSet,
    extra=2,
    can_delete=True,
    max_num=MAX_CONTENT_FILTERS,
    validate_max=True,
    absolute_max=MAX_CONTENT_FILTERS + 2,
)
