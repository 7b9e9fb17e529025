"""Domains and mailing lists.

Field names and choices follow GNU Mailman 3's list settings where the
meaning is the same, so that importing a Mailman list is a mapping.
"""

import math

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Domain(models.Model):
    mail_host = models.CharField(_("mail host"), max_length=253, unique=True)
    web_host = models.CharField(_("web host"), max_length=253, blank=True)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["mail_host"]

    def __str__(self) -> str:
        return self.mail_host


class ArchivePolicy(models.TextChoices):
    PUBLIC = "public", _("public")
    PRIVATE = "private", _("private")
    NEVER = "never", _("not archived")


class SubscriptionPolicy(models.TextChoices):
    OPEN = "open", _("open")
    CONFIRM = "confirm", _("confirm")
    MODERATE = "moderate", _("moderate")
    CONFIRM_THEN_MODERATE = "confirm_then_moderate", _("confirm, then moderate")


class UnsubscriptionPolicy(models.TextChoices):
    OPEN = "open", _("open")
    CONFIRM = "confirm", _("confirm")


class Action(models.TextChoices):
    """What moderation does with a post (Mailman's Action)."""

    ACCEPT = "accept", _("accept")
    HOLD = "hold", _("hold")
    REJECT = "reject", _("reject")
    DISCARD = "discard", _("discard")
    DEFER = "defer", _("defer")


class ReplyToPolicy(models.TextChoices):
    NO_MUNGING = "no_munging", _("no munging")
    POINT_TO_LIST = "point_to_list", _("point to list")
    EXPLICIT_HEADER = "explicit_header", _("explicit Reply-To")
    EXPLICIT_HEADER_ONLY = "explicit_header_only", _("explicit Reply-To only")


class Personalization(models.TextChoices):
    NONE = "none", _("none")
    INDIVIDUAL = "individual", _("individual")
    FULL = "full", _("full")


class DmarcMitigation(models.TextChoices):
    NO_MITIGATION = "no_mitigation", _("no mitigation")
    MUNGE_FROM = "munge_from", _("replace From: with the list address")
    WRAP_MESSAGE = "wrap_message", _("wrap the message")
    REJECT = "reject", _("reject")
    DISCARD = "discard", _("discard")


class FilterAction(models.TextChoices):
    """What the MIME filter does with a post it filters out (Mailman's filter_action)."""

    DISCARD = "discard", _("discard")
    REJECT = "reject", _("reject")
    FORWARD = "forward", _("forward to the list's owners")
    PRESERVE = "preserve", _("preserve for the site's admins")


class DigestFrequency(models.TextChoices):
    YEARLY = "yearly", _("yearly")
    MONTHLY = "monthly", _("monthly")
    QUARTERLY = "quarterly", _("quarterly")
    WEEKLY = "weekly", _("weekly")
    DAILY = "daily", _("daily")


class RosterVisibility(models.TextChoices):
    PUBLIC = "public", _("anyone")
    MEMBERS = "members", _("members")
    MODERATORS = "moderators", _("owners and moderators")


class MailingList(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="lists")
    list_name = models.CharField(_("list name"), max_length=64)
    display_name = models.CharField(_("display name"), max_length=255, blank=True)
    description = models.CharField(_("short description"), max_length=255, blank=True)
    info = models.TextField(_("information"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    # Posting
    subject_prefix = models.CharField(_("subject prefix"), max_length=255, blank=True)
    advertised = models.BooleanField(_("advertised"), default=True)
    emergency = models.BooleanField(_("emergency moderation"), default=False)
    default_member_action = models.CharField(max_length=16, choices=Action.choices, default=Action.DEFER)
    default_nonmember_action = models.CharField(max_length=16, choices=Action.choices, default=Action.HOLD)
    max_message_size = models.PositiveIntegerField(
        _("maximum message size (KB)"), default=40, help_text=_("0 means no limit.")
    )
    max_num_recipients = models.PositiveIntegerField(
        _("maximum recipients"), default=10, help_text=_("0 means no limit.")
    )
    require_explicit_destination = models.BooleanField(default=True)
    acceptable_aliases = models.TextField(blank=True, help_text=_("One address or ^regex per line."))
    administrivia = models.BooleanField(default=True)
    moderator_password = models.CharField(max_length=128, blank=True, help_text=_("Stored hashed."))
    next_post_id = models.PositiveIntegerField(default=1)

    # Headers and decoration
    reply_goes_to_list = models.CharField(
        max_length=32, choices=ReplyToPolicy.choices, default=ReplyToPolicy.NO_MUNGING
    )
    reply_to_address = models.EmailField(blank=True)
    first_strip_reply_to = models.BooleanField(default=False)
    include_rfc2369_headers = models.BooleanField(default=True)
    allow_list_posts = models.BooleanField(default=True)
    anonymous_list = models.BooleanField(default=False)
    personalize = models.CharField(max_length=16, choices=Personalization.choices, default=Personalization.NONE)
    dmarc_mitigate_action = models.CharField(
        max_length=16, choices=DmarcMitigation.choices, default=DmarcMitigation.NO_MITIGATION
    )
    dmarc_mitigate_unconditionally = models.BooleanField(default=False)
    # Which From-domain DMARC policies call for the mitigation: p=reject always.
    dmarc_quarantine_moderation_action = models.BooleanField(
        default=True, help_text=_("Also mitigate when the From domain's DMARC policy is quarantine.")
    )
    dmarc_none_moderation_action = models.BooleanField(
        default=False, help_text=_("Also mitigate when the From domain's DMARC policy is none.")
    )
    dmarc_moderation_notice = models.TextField(blank=True)
    dmarc_wrapped_message_text = models.TextField(blank=True)

    # Content filtering (Mailman's names)
    filter_content = models.BooleanField(_("filter MIME parts"), default=False)
    filter_types = models.TextField(blank=True, help_text=_("MIME types to remove, one per line (text/html, image)."))
    filter_extensions = models.TextField(blank=True, help_text=_("File name extensions to remove, one per line."))
    pass_types = models.TextField(blank=True, help_text=_("When set, only these MIME types are kept."))
    pass_extensions = models.TextField(blank=True, help_text=_("When set, only these file name extensions are kept."))
    collapse_alternatives = models.BooleanField(
        default=True, help_text=_("Keep only the first part of multipart/alternative.")
    )
    convert_html_to_plaintext = models.BooleanField(default=False)
    filter_action = models.CharField(max_length=16, choices=FilterAction.choices, default=FilterAction.DISCARD)
    spam_hold_score = models.FloatField(
        null=True, blank=True, default=5.0, help_text=_("Hold posts scored this or higher; empty: never.")
    )
    spam_discard_score = models.FloatField(
        null=True, blank=True, default=None, help_text=_("Discard posts scored this or higher; empty: never.")
    )

    # Membership
    subscription_policy = models.CharField(
        max_length=32, choices=SubscriptionPolicy.choices, default=SubscriptionPolicy.CONFIRM
    )
    unsubscription_policy = models.CharField(
        max_length=16, choices=UnsubscriptionPolicy.choices, default=UnsubscriptionPolicy.OPEN
    )
    member_roster_visibility = models.CharField(
        max_length=16, choices=RosterVisibility.choices, default=RosterVisibility.MODERATORS
    )
    send_welcome_message = models.BooleanField(default=True)
    send_goodbye_message = models.BooleanField(default=True)
    admin_immed_notify = models.BooleanField(default=True)
    respond_to_post_requests = models.BooleanField(
        default=True, help_text=_("Tell the sender of a held post that it waits for a moderator.")
    )
    send_moderation_summary = models.BooleanField(
        default=True, help_text=_("A daily summary of what waits for the moderators.")
    )
    max_days_to_hold = models.PositiveSmallIntegerField(
        default=14, help_text=_("Held posts not decided after this many days are discarded; 0: kept.")
    )
    admin_notify_mchanges = models.BooleanField(default=False)
    # Mailman's pending_request_life, per list: how long a confirmation or
    # invitation token stays valid.
    confirmation_expiry_days = models.PositiveSmallIntegerField(
        _("confirmations expire after (days)"), default=3, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )

    # Archive
    archive_policy = models.CharField(max_length=16, choices=ArchivePolicy.choices, default=ArchivePolicy.PUBLIC)

    # Digests
    digestable = models.BooleanField(default=True)
    digest_is_default = models.BooleanField(default=False)
    mime_is_default_digest = models.BooleanField(default=False)
    digest_size_threshold = models.PositiveIntegerField(_("digest size threshold (KB)"), default=30)
    digest_send_periodic = models.BooleanField(default=True)
    digest_volume_frequency = models.CharField(
        max_length=16, choices=DigestFrequency.choices, default=DigestFrequency.MONTHLY
    )
    digest_last_sent_at = models.DateTimeField(null=True, blank=True)
    volume = models.PositiveIntegerField(default=1)
    next_digest_number = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["domain__mail_host", "list_name"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "list_name"], name="unique_list_per_domain"),
        ]

    def __str__(self) -> str:
        return self.fqdn_listname

    def clean(self) -> None:
        # NaN and infinity pass a FloatField; as a score they would never match.
        errors = {
            name: [_("Give a number.")]
            for name in ("spam_hold_score", "spam_discard_score")
            if getattr(self, name) is not None and not math.isfinite(getattr(self, name))
        }
        if errors:
            raise ValidationError(errors)

    @property
    def fqdn_listname(self) -> str:
        return f"{self.list_name}@{self.domain.mail_host}"

    @property
    def list_id(self) -> str:
        """RFC 2919 list identifier: the posting address with @ replaced by a dot."""
        return f"{self.list_name}.{self.domain.mail_host}"

    @property
    def posting_address(self) -> str:
        return self.fqdn_listname

    def subaddress(self, name: str) -> str:
        """An address such as list-request@domain."""
        return f"{self.list_name}-{name}@{self.domain.mail_host}"


class TemplateName(models.TextChoices):
    """The mails a list sends that its owners may reword, by Mailman's template names."""

    WELCOME = "list:user:notice:welcome", _("welcome message")
    GOODBYE = "list:user:notice:goodbye", _("goodbye message")
    CONFIRM_SUBSCRIBE = "list:user:action:subscribe", _("subscription confirmation request")
    CONFIRM_UNSUBSCRIBE = "list:user:action:unsubscribe", _("unsubscription confirmation request")
    INVITATION = "list:user:action:invite", _("invitation")
    REQUEST_NOTICE = "list:admin:action:subscribe", _("notice to owners of a subscription request")
    REQUEST_REFUSED = "list:user:notice:refuse", _("subscription request rejected")
    # Moderation of posts.
    HELD_NOTICE = "list:admin:action:post", _("notice to moderators of a held post")
    HELD_SENDER_NOTICE = "list:user:notice:hold", _("notice to the sender of a held post")
    POST_REJECTED = "list:user:notice:rejected", _("notice to the sender of a rejected post")
    PENDING_SUMMARY = "list:admin:notice:pending", _("daily summary of what waits for the moderators")
    # Ours (Mailman has no expiry notice).
    EXPIRED_NOTICE = "list:admin:notice:expired", _("notice to moderators of held posts that expired")
    # The decoration of posts (messages.footers).
    REGULAR_HEADER = "list:member:regular:header", _("header of posts")
    REGULAR_FOOTER = "list:member:regular:footer", _("footer of posts")
    DIGEST_HEADER = "list:member:digest:header", _("header of digests")
    DIGEST_FOOTER = "list:member:digest:footer", _("footer of digests")


# Generous for any mail or footer, small enough that a footer cannot
# multiply a post's size a thousandfold.
TEMPLATE_MAX_LENGTH = 100_000


class ListTemplate(models.Model):
    """An owner's wording of one of a list's mails, or of the header and
    footer of its posts; with no list the site's. Text with Mailman's
    $placeholders ($display_name, $user_email, ...); an unknown $name stays
    as written. Without one, mails use the default under
    members/templates/members/mail/, and posts the built-in footer of
    messages.footers."""

    mailing_list = models.ForeignKey(
        MailingList, null=True, blank=True, on_delete=models.CASCADE, related_name="templates"
    )
    name = models.CharField(max_length=64, choices=TemplateName.choices)
    text = models.TextField(
        _("text"),
        validators=[MaxLengthValidator(TEMPLATE_MAX_LENGTH)],
        help_text=_(
            "Mailman's placeholders: $display_name, $listname, $list_id, $short_listname, $domain, "
            "$description, $info, $info_url, $request_email, $owner_email; in the header and footer of a "
            "personalized list also $user_email, $user_delivered_to and $user_unsubscribe_url."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["mailing_list", "name"]
        constraints = [
            models.UniqueConstraint(fields=["mailing_list", "name"], name="unique_list_template"),
            models.UniqueConstraint(
                fields=["name"], condition=Q(mailing_list__isnull=True), name="unique_site_template"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.mailing_list or _('site default')})"


class FilterPart(models.TextChoices):
    HEADER = "header", _("a header")
    BODY = "body", _("the body")


# A regex here runs on every post (RE2: in linear time); long ones are refused.
FILTER_PATTERN_MAX_LENGTH = 1000


class ContentFilter(models.Model):
    """One of a list's header and body filters (Mailman's header_matches,
    extended to the body): where `pattern` matches, `action` is taken. The
    first match in `position` order wins."""

    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="content_filters")
    position = models.PositiveIntegerField(default=0)
    part = models.CharField(max_length=8, choices=FilterPart.choices, default=FilterPart.HEADER)
    header = models.CharField(max_length=255, blank=True, help_text=_("The header's name, for a header filter."))
    pattern = models.CharField(max_length=FILTER_PATTERN_MAX_LENGTH)
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.HOLD)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["mailing_list", "position", "id"]

    def __str__(self) -> str:
        where = self.header if self.part == FilterPart.HEADER else self.part
        return f"{where} ~ {self.pattern} -> {self.action}"
