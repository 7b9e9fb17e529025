from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from lists.models import TEMPLATE_MAX_LENGTH
from members.models import DeliveryMode, DeliveryStatus, Membership, Role
from members.roster import MAX_CSV_BYTES, InvalidCsv, lines_from_csv
from members.self_service import MEMBER_CANNOT_ENABLE, member_delivery_modes
from members.services import CONTROL_CHARACTERS, MAX_EMAIL_LENGTH

# Addresses one mass subscription or unsubscription may name; more is a job
# for manage.py add_members / remove_members, which show progress.
MAX_BULK_LINES = 20_000
MAX_BULK_CHARACTERS = MAX_BULK_LINES * 80


class AddressForm(forms.Form):
    email = forms.EmailField(label=_("Your email address"), max_length=254)
    display_name = forms.CharField(label=_("Your name (optional)"), max_length=255, required=False)


class PreferencesForm(forms.Form):
    """A member's own choices for one membership."""

    delivery_mode = forms.ChoiceField(label=_("Delivery"), widget=forms.RadioSelect)
    no_mail = forms.BooleanField(label=_("Send me no mail from this list for now"), required=False)
    receive_own_postings = forms.BooleanField(label=_("Send me my own posts"), required=False)
    receive_list_copy = forms.BooleanField(
        label=_("Send me the list's copy also when I am addressed directly"), required=False
    )
    acknowledge_posts = forms.BooleanField(label=_("Acknowledge my posts"), required=False)
    hide_address = forms.BooleanField(label=_("Hide my address from the roster"), required=False)

    def __init__(self, *args, membership: Membership, **kwargs):
        kwargs.setdefault("auto_id", f"m{membership.pk}_%s")
        kwargs.setdefault("initial", self.initial_of(membership))
        super().__init__(*args, **kwargs)
        self.membership = membership
        modes = dict.fromkeys(member_delivery_modes(membership.mailing_list))
        modes[membership.delivery_mode] = None  # the current one, even if an owner set another
        self.fields["delivery_mode"].choices = [(mode, DeliveryMode(mode).label) for mode in modes]
        if membership.delivery_status in MEMBER_CANNOT_ENABLE:
            self.fields["no_mail"].disabled = True
            self.fields["no_mail"].help_text = _("A moderator stopped your mail from this list.")
        elif membership.delivery_status == DeliveryStatus.BY_BOUNCES:
            self.fields["no_mail"].help_text = _("Mail stopped because it bounced; untick to receive it again.")

    @staticmethod
    def initial_of(membership: Membership) -> dict:
        return {
            "delivery_mode": membership.delivery_mode,
            "no_mail": membership.delivery_status != DeliveryStatus.ENABLED,
            "receive_own_postings": membership.receive_own_postings,
            "receive_list_copy": membership.receive_list_copy,
            "acknowledge_posts": membership.acknowledge_posts,
            "hide_address": membership.hide_address,
        }


def no_control_characters(text: str) -> None:
    if CONTROL_CHARACTERS.search(text):
        raise ValidationError(_("Remove the control characters."))


class RosterSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Address or name contains"),
        max_length=MAX_EMAIL_LENGTH,
        required=False,
        validators=[no_control_characters],
    )
    role = forms.ChoiceField(label=_("Role"), choices=[("", _("any")), *Role.choices], required=False)

    def filters(self) -> dict[str, str]:
        """The search as members.roster.roster's keyword arguments."""
        return {"query": self.cleaned_data["q"], "role": self.cleaned_data["role"]}


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (sent to the person)"), max_length=1000, required=False, widget=forms.Textarea({"rows": 2})
    )


class BanForm(forms.Form):
    pattern = forms.CharField(
        label=_("Address or ^regular expression"),
        # The Ban row holds no more; a longer pattern would fail in the database.
        max_length=254,
        help_text=_("A pattern starts with ^ and is matched against the whole address, ignoring case."),
        validators=[no_control_characters],
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=MAX_EMAIL_LENGTH)
    display_name = forms.CharField(label=_("Name (optional)"), max_length=255, required=False)


class MassChangeForm(forms.Form):
    """Addresses for a mass subscription or unsubscription: typed, or as a CSV file."""

    addresses = forms.CharField(
        label=_("Addresses, one a line"),
        # Help texts are shown as HTML.
        help_text=_("a@example.org, a@example.org Name, or Name &lt;a@example.org&gt;"),
        max_length=MAX_BULK_CHARACTERS,
        required=False,
        widget=forms.Textarea({"rows": 12}),
    )
    csv_file = forms.FileField(
        label=_("Or a CSV file"),
        help_text=_("As the roster's export: the address in the first column, a display_name column optional."),
        required=False,
    )
    send_notice = forms.BooleanField(required=False, initial=True)
    skip_invalid = forms.BooleanField(
        label=_("Skip invalid lines (otherwise one invalid line changes nothing)"), required=False
    )

    def __init__(self, *args, notice_label: str, with_csv: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["send_notice"].label = notice_label
        if not with_csv:
            del self.fields["csv_file"]

    def clean(self) -> dict:
        data = super().clean()
        upload = data.get("csv_file")
        if upload:
            data["lines"] = self._csv_lines(upload)
        else:
            # Only CR and LF end a line (str.splitlines() would also split
            # at U+0085 and the like, and so hide them from the checks).
            data["lines"] = data.get("addresses", "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if not any(line.strip() for line in data.get("lines", [])) and not self.errors:
            raise ValidationError(_("Give at least one address."))
        if len(data.get("lines", [])) > MAX_BULK_LINES:
            raise ValidationError(_("At most %(max)d addresses at once.") % {"max": MAX_BULK_LINES})
        return data

    def _csv_lines(self, upload) -> list[str]:
        if upload.size > MAX_CSV_BYTES:
            self.add_error("csv_file", _("The file is larger than %(max)d MB.") % {"max": MAX_CSV_BYTES // 2**20})
            return []
        try:
            return lines_from_csv(upload.read())
        except InvalidCsv as exc:
            self.add_error("csv_file", str(exc))
            return []


class TemplateForm(forms.Form):
    text = forms.CharField(
        label=_("Text"),
        max_length=TEMPLATE_MAX_LENGTH,
        required=False,
        strip=False,
        help_text=_("Empty goes back to the default."),
        widget=forms.Textarea({"rows": 16}),
    )

    def clean_text(self) -> str:
        # Browsers send a textarea's lines with CRLF; mail bodies are kept with LF.
        return self.cleaned_data["text"].replace("\r\n", "\n").replace("\r", "\n")
