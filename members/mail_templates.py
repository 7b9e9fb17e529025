"""The wording of the mails a list's owners may edit on the list's pages:
which ones, the text in force and where it comes from, and the default
written with Mailman's $placeholders as a starting point.

Saving goes through lists.services.set_template; members.notices renders.
"""

from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _

from lists.models import ListTemplate, MailingList, TemplateName
from lists.services import set_template
from members.notices import DEFAULT_TEMPLATES, list_context

# Short names for URLs -> the template. Confirmation requests and
# invitations carry the token and its link, so they stay the site's.
# The notice of a held post carries its token in the Subject and Reply-To
# headers, which owners do not write, so its text may be theirs.
EDITABLE: dict[str, str] = {
    "welcome": TemplateName.WELCOME,
    "goodbye": TemplateName.GOODBYE,
    "held-notice": TemplateName.HELD_NOTICE,
    "hold-notice": TemplateName.HELD_SENDER_NOTICE,
    "post-rejected": TemplateName.POST_REJECTED,
    "pending-summary": TemplateName.PENDING_SUMMARY,
    "expired-notice": TemplateName.EXPIRED_NOTICE,
}
# The placeholders each editable mail fills in besides members.notices.list_context's.
USER_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    TemplateName.WELCOME: ("user_email", "user_name"),
    TemplateName.GOODBYE: ("user_email",),
    TemplateName.HELD_NOTICE: (
        "sender_email",
        "subject",
        "reasons",
        "token",
        "confirm_email",
        "held_url",
        "queue_url",
    ),
    TemplateName.HELD_SENDER_NOTICE: ("sender_email", "subject", "reasons"),
    TemplateName.POST_REJECTED: ("sender_email", "subject", "reasons"),
    TemplateName.PENDING_SUMMARY: ("count", "data", "queue_url", "requests_url"),
    TemplateName.EXPIRED_NOTICE: ("days", "data", "log_url"),
}

SOURCE_LIST = _("this list's own wording")
SOURCE_SITE = _("the site's wording")
SOURCE_DEFAULT = _("the built-in wording")


@dataclass(frozen=True)
class Wording:
    slug: str
    name: str
    label: str
    text: str
    source: str
    placeholders: tuple[str, ...]


def wording(mlist: MailingList, slug: str) -> Wording:
    """The text in force for the editable mail `slug` on `mlist`; KeyError for
    a slug that is not editable."""
    name = EDITABLE[slug]
    own = ListTemplate.objects.filter(mailing_list=mlist, name=name).first()
    site = ListTemplate.objects.filter(mailing_list__isnull=True, name=name).first()
    if own is not None:
        text, source = own.text, SOURCE_LIST
    elif site is not None:
        text, source = site.text, SOURCE_SITE
    else:
        text, source = default_text(mlist, name), SOURCE_DEFAULT
    return Wording(slug, name, TemplateName(name).label, text, source, placeholders(mlist, name))


def wordings(mlist: MailingList) -> list[Wording]:
    return [wording(mlist, slug) for slug in EDITABLE]


def placeholders(mlist: MailingList, name: str) -> tuple[str, ...]:
    return (*list_context(mlist), *USER_PLACEHOLDERS[name])


def default_text(mlist: MailingList, name: str) -> str:
    """The built-in wording of `name` with $placeholders where it fills in values."""
    context = {placeholder: f"${placeholder}" for placeholder in placeholders(mlist, name)}
    return render_to_string(DEFAULT_TEMPLATES[name], context).strip() + "\n"


def save_wording(mlist: MailingList, current: Wording, text: str) -> bool:
    """Make `text` the list's own wording of `current`'s mail (empty text: back
    to the site's or the built-in one). False when nothing changed: saving
    the wording in force unedited leaves the list following the site's."""
    if current.source != SOURCE_LIST and text.strip() == current.text.strip():
        return False
    if current.source == SOURCE_LIST and text == current.text:
        return False
    set_template(mlist, current.name, text)
    return True
