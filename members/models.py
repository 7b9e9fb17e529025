"""Addresses, list memberships and bans."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from lists.models import Action, MailingList
from members.ban_patterns import compiled_or_none


class Address(models.Model):
    """An email address. `email` is the lower-cased form and is unique;
    `original_email` keeps the spelling it was first given in (as Mailman)."""

    email = models.CharField(_("email"), max_length=254, unique=True)
    original_email = models.CharField(_("as given"), max_length=254)
    display_name = models.CharField(_("display name"), max_length=255, blank=True)
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="addresses"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["email"]
        verbose_name_plural = _("addresses")

    def __str__(self) -> str:
        return self.original_email or self.email

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class Role(models.TextChoices):
    MEMBER = "member", _("member")
    OWNER = "owner", _("owner")
    MODERATOR = "moderator", _("moderator")
    NONMEMBER = "nonmember", _("nonmember")


class DeliveryMode(models.TextChoices):
    REGULAR = "regular", _("regular")
    PLAINTEXT_DIGESTS = "plaintext_digests", _("plain text digests")
    MIME_DIGESTS = "mime_digests", _("MIME digests")
    SUMMARY_DIGESTS = "summary_digests", _("summary digests")


class DeliveryStatus(models.TextChoices):
    ENABLED = "enabled", _("enabled")
    BY_USER = "by_user", _("disabled by the member")
    BY_BOUNCES = "by_bounces", _("disabled by bounces")
    BY_MODERATOR = "by_moderator", _("disabled by a moderator")


class Membership(models.Model):
    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="memberships")
    address = models.ForeignKey(Address, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    delivery_mode = models.CharField(max_length=32, choices=DeliveryMode.choices, default=DeliveryMode.REGULAR)
    delivery_status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.ENABLED)
    moderation_action = models.CharField(
        max_length=16,
        choices=Action.choices,
        blank=True,
        help_text=_("Overrides the list's default action for this member's posts; empty uses the default."),
    )
    subscribed_at = models.DateTimeField(_("subscribed"), auto_now_add=True)

    # The member's preferences (Mailman's, with its defaults).
    receive_own_postings = models.BooleanField(_("receive own posts"), default=True)
    receive_list_copy = models.BooleanField(_("receive a copy when also addressed directly"), default=True)
    acknowledge_posts = models.BooleanField(_("acknowledge posts"), default=False)
    hide_address = models.BooleanField(_("hide address from the roster"), default=True)

    class Meta:
        ordering = ["mailing_list", "role", "address__email"]
        constraints = [
            models.UniqueConstraint(fields=["mailing_list", "address", "role"], name="unique_membership_role"),
        ]
        indexes = [
            # The recipient snapshot: enabled regular members of one list.
            models.Index(fields=["mailing_list", "role", "delivery_status", "delivery_mode"], name="roster_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.role}) on {self.mailing_list}"

    @property
    def email(self) -> str:
        return self.address.email


class Ban(models.Model):
    """A banned address or `^regex` pattern, on one list or site-wide."""

    mailing_list = models.ForeignKey(MailingList, null=True, blank=True, on_delete=models.CASCADE, related_name="bans")
    email = models.CharField(_("address or ^pattern"), max_length=254)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(fields=["mailing_list", "email"], name="unique_list_ban"),
            models.UniqueConstraint(fields=["email"], condition=Q(mailing_list__isnull=True), name="unique_site_ban"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.mailing_list or _('site-wide')})"

    @property
    def is_pattern(self) -> bool:
        return self.email.startswith("^")

    def matches(self, email: str) -> bool:
        if self.is_pattern:
            pattern = compiled_or_none(self.email)
            return pattern is not None and pattern.match(email) is not None
        return self.email == email.lower()


class TokenAction(models.TextChoices):
    """What confirming a token does."""

    SUBSCRIBE = "subscribe", _("subscribe")
    UNSUBSCRIBE = "unsubscribe", _("unsubscribe")
    INVITATION = "invitation", _("accept an invitation")
    # A moderator's decision on a held post, by replying to its notice.
    HELD_POST = "held_post", _("decide on a held post")


class ConfirmationToken(models.Model):
    """A pending confirmation: one random, single-use token for one action by
    one address on one list. Only the token's SHA-256 is stored, so the
    table gives nobody a token to use (see members.tokens)."""

    digest = models.CharField(max_length=64, unique=True)
    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="confirmation_tokens")
    email = models.CharField(_("email"), max_length=254)
    action = models.CharField(max_length=16, choices=TokenAction.choices)
    # What the request asked for, carried to the confirmation: display_name,
    # pre_approved, send_welcome, send_goodbye, via, inviter.
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["mailing_list", "email", "action"], name="token_owner_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.email} on {self.mailing_list}"


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")


class SubscriptionRequest(models.Model):
    """A subscription waiting for an owner's or moderator's approval."""

    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="subscription_requests")
    email = models.CharField(_("email"), max_length=254)
    display_name = models.CharField(_("display name"), max_length=255, blank=True)
    via = models.CharField(max_length=16, blank=True)
    send_welcome = models.BooleanField(default=True)
    requested_at = models.DateTimeField(_("requested"), auto_now_add=True, db_index=True)
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    # A deferred request stays pending; this says someone looked at it.
    deferred_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailing_list", "email"],
                condition=Q(status="pending"),
                name="unique_pending_subscription_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} asks to join {self.mailing_list} ({self.status})"
