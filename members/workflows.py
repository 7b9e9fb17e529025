"""The subscription lifecycle (Mailman 3's subscription workflows): asking to
join or leave, confirming by token, owners' approval, invitations, and mass
changes with or without welcome and goodbye mails.

Web pages, the REST API and email commands all call these functions.

A request passes three checks, each skipped by a flag (Mailman's REST
semantics): the address is verified (`pre_verified`), the person confirmed
(`pre_confirmed`; asked for by the confirm and confirm_then_moderate
policies), an owner approved (`pre_approved`; asked for by moderate and
confirm_then_moderate). Unless the caller vouches that the requester owns
the address (`pre_verified`: the signed-in owner of a verified address, an
admin), a confirmation mail goes out whatever the policy, and confirming
verifies the address; one mail serves both checks. Unlike Mailman, an
address verified earlier is not enough: that is no consent to join this
list, and it would let a form tell verified addresses from others.

What a requester may learn: nothing about who is subscribed or banned.
Every result's `public_status` is what a fresh address would have got
("check your mail"), and a request that asks for a confirmation does the
same work for a new address, a member and one already waiting for
approval: one token, one confirmation mail, sent before the answer (see
request_subscription). Only a banned address is never mailed. `status`
says what really happened, for trusted callers (an admin's API key);
pages and email replies show `public_status` only.

Member events (member_added, member_removed) come from members.services;
subscription_requested and subscription_request_decided from here.
Confirmation mails are sent inside the transaction, so a request whose
mail cannot be sent raises SendError and leaves nothing behind; welcome,
goodbye and owner notices go after commit, best effort.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from lists.models import MailingList, SubscriptionPolicy, TemplateName, UnsubscriptionPolicy
from mailman_site.events import emit
from members import notices, ratelimit, tokens
from members.models import (
    ConfirmationToken,
    Membership,
    RequestStatus,
    Role,
    SubscriptionRequest,
    TokenAction,
)
from members.services import (
    AlreadySubscribed,
    BulkResult,
    MembershipError,
    bulk_subscribe,
    bulk_unsubscribe,
    is_banned,
    remove_membership,
    split_address,
    subscribe,
    verify_address,
)
from messages import moderation_log
from messages.models import ModerationKind

logger = logging.getLogger(__name__)

CONFIRMING = (SubscriptionPolicy.CONFIRM, SubscriptionPolicy.CONFIRM_THEN_MODERATE)
MODERATING = (SubscriptionPolicy.MODERATE, SubscriptionPolicy.CONFIRM_THEN_MODERATE)
VIA = ("web", "api", "email", "admin")


class Status(StrEnum):
    CONFIRMATION_SENT = "confirmation_sent"
    PENDING_APPROVAL = "pending_approval"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    INVITED = "invited"
    ALREADY_MEMBER = "already_member"
    ALREADY_PENDING = "already_pending"
    NOT_MEMBER = "not_member"
    BANNED = "banned"
    RATE_LIMITED = "rate_limited"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 (a status name)


@dataclass(frozen=True)
class WorkflowResult:
    """What a workflow step did.

    `status` is the truth, for trusted callers only; `public_status` is what
    the requester may be told (see the module docstring). `token` is the
    token just mailed, for trusted API callers as in Mailman's REST API;
    never show it on a page.
    """

    status: Status
    public_status: Status
    email: str = ""
    mailing_list: MailingList | None = None
    membership: Membership | None = None
    request: SubscriptionRequest | None = None
    token: str = ""


class RequestAlreadyDecided(MembershipError):
    def __init__(self, request: SubscriptionRequest):
        super().__init__(f"The request of {request.email} has already been {request.get_status_display()}.")


@transaction.atomic
def request_subscription(
    mlist: MailingList,
    email: str,
    *,
    display_name: str = "",
    pre_verified: bool = False,
    pre_confirmed: bool = False,
    pre_approved: bool = False,
    send_welcome: bool = True,
    via: str = "web",
    client_ip: str = "",
) -> WorkflowResult:
    """Ask for `email` to become a member of `mlist`, under the list's policy.

    Raises InvalidAddress for text that is no address (safe to show: it
    says nothing about the list), SendError when the confirmation mail
    cannot be sent (nothing is then written).
    """
    _check_via(via)
    given, parsed_name = split_address(email)
    email = given.lower()
    display_name = display_name or parsed_name
    # Only the caller can vouch that the requester owns the address: that it
    # was verified once (by whoever) is no consent to join this list.
    needs_confirmation = not pre_verified or (mlist.subscription_policy in CONFIRMING and not pre_confirmed)
    needs_approval = mlist.subscription_policy in MODERATING and not pre_approved
    expected = (
        Status.CONFIRMATION_SENT
        if needs_confirmation
        else Status.PENDING_APPROVAL
        if needs_approval
        else Status.SUBSCRIBED
    )
    result = partial(WorkflowResult, public_status=expected, email=email, mailing_list=mlist)
    # Counted before anything is looked up, so that the limit itself does
    # not tell a banned or subscribed address from another.
    if needs_confirmation and not _may_send(email, client_ip):
        return WorkflowResult(Status.RATE_LIMITED, Status.RATE_LIMITED, email, mlist)
    if is_banned(mlist, email):
        # Never mailed: a ban is often a promise not to write again.
        logger.info("Subscription of a banned address to %s refused", mlist)
        return result(Status.BANNED)
    known = _subscription_state(mlist, email)
    if pre_verified:
        verify_address(email)
    if needs_confirmation:
        # One path for a new address, a member and one already waiting: a
        # token and a confirmation mail, sent before the answer. Spare the
        # member the SMTP round trip and the time the form takes tells who
        # is subscribed. Sending every mail after the answer (an actor)
        # would hide it too, but then a request would live only in a broker
        # queue, and a mail server that is down could no longer refuse it
        # with nothing written (SendError: a 503 on pages and API), now
        # alike for every address. Confirming changes nothing for a member
        # ("you are subscribed"); the per-address rate limit bounds these
        # mails as it bounds the others.
        data = {"display_name": display_name, "pre_approved": pre_approved, "send_welcome": send_welcome, "via": via}
        issued = tokens.issue(mlist, email, TokenAction.SUBSCRIBE, data)
        notices.send_confirmation(mlist, email, issued.token, TemplateName.CONFIRM_SUBSCRIBE)
        return result(known or Status.CONFIRMATION_SENT, token=issued.token)
    if known:
        return result(known)
    return _subscribe_or_hold(
        mlist, email, display_name, needs_approval=needs_approval, send_welcome=send_welcome, via=via
    )


def _subscription_state(mlist: MailingList, email: str) -> Status | None:
    """ALREADY_MEMBER, ALREADY_PENDING, or None for an address with neither."""
    # Both asked every time: the work done must not depend on the answer.
    member = Membership.objects.filter(mailing_list=mlist, address__email=email, role=Role.MEMBER).exists()
    waiting = SubscriptionRequest.objects.filter(mailing_list=mlist, email=email, status=RequestStatus.PENDING).exists()
    if member:
        return Status.ALREADY_MEMBER
    if waiting:
        return Status.ALREADY_PENDING
    return None


@transaction.atomic
def request_unsubscription(
    mlist: MailingList,
    email: str,
    *,
    pre_verified: bool = False,
    pre_confirmed: bool = False,
    send_goodbye: bool = True,
    via: str = "web",
    client_ip: str = "",
) -> WorkflowResult:
    """Ask for `email` to leave `mlist`.

    Under the open policy a verified requester (`pre_verified`: the signed-in
    owner of the address, an admin) leaves at once; anyone else, and
    everyone under the confirm policy unless `pre_confirmed`, gets a
    confirmation mail first, so that nobody can unsubscribe somebody else.
    An address that is not a member gets the same mail and the same
    public_status; without a confirmation it gets neither.
    """
    _check_via(via)
    given, _ = split_address(email)
    email = given.lower()
    needs_confirmation = not pre_confirmed and (
        mlist.unsubscription_policy == UnsubscriptionPolicy.CONFIRM or not pre_verified
    )
    expected = Status.CONFIRMATION_SENT if needs_confirmation else Status.UNSUBSCRIBED
    result = partial(WorkflowResult, public_status=expected, email=email, mailing_list=mlist)
    if needs_confirmation and not _may_send(email, client_ip):
        return WorkflowResult(Status.RATE_LIMITED, Status.RATE_LIMITED, email, mlist)
    membership = (
        Membership.objects.select_related("address")
        .filter(mailing_list=mlist, address__email=email, role=Role.MEMBER)
        .first()
    )
    if needs_confirmation:
        # As in request_subscription: a token and a mail for a member and a
        # stranger alike, so that neither the answer nor its time tells who
        # is subscribed. Confirming changes nothing for a stranger.
        issued = tokens.issue(mlist, email, TokenAction.UNSUBSCRIBE, {"send_goodbye": send_goodbye, "via": via})
        notices.send_confirmation(mlist, email, issued.token, TemplateName.CONFIRM_UNSUBSCRIBE)
        status = Status.CONFIRMATION_SENT if membership else Status.NOT_MEMBER
        return result(status, token=issued.token)
    if membership is None:
        return result(Status.NOT_MEMBER)
    if not _leave(membership, send_goodbye=send_goodbye):
        return result(Status.NOT_MEMBER)
    return result(Status.UNSUBSCRIBED)


def unsubscribe_by_one_click(mlist: MailingList, email: str) -> WorkflowResult:
    """The RFC 8058 one-click POST for `email`, whose signed token the caller
    has checked (members.one_click): the member leaves at once, with the
    list's goodbye like any other leaving member (RFC 8058 section 3.1: no
    further step may be asked). Repeating it is harmless: once the member
    is gone, a POST, or two at once, removes nobody and sends nothing."""
    return request_unsubscription(mlist, email, pre_verified=True, pre_confirmed=True, via="web")


def confirm(token: str, *, mlist: MailingList | None = None) -> WorkflowResult:
    """Act on the confirmation `token` stands for, once: a subscription (which
    may then wait for an owner), an unsubscription or an invitation.

    With `mlist`, a token of another list is refused. An invalid, used or
    expired token gives INVALID_TOKEN and changes nothing.
    """
    return _confirm(token, mlist, (TokenAction.SUBSCRIBE, TokenAction.UNSUBSCRIBE, TokenAction.INVITATION))


def accept_invitation(token: str, *, mlist: MailingList | None = None) -> WorkflowResult:
    """Accept the invitation `token` stands for; any other token is INVALID_TOKEN."""
    return _confirm(token, mlist, (TokenAction.INVITATION,))


@transaction.atomic
def invite(
    mlist: MailingList, email: str, inviter: AbstractBaseUser | None, *, display_name: str = ""
) -> WorkflowResult:
    """Mail `email` an invitation to `mlist` with a link to accept it.

    Accepting subscribes without asking the owners again. A banned address
    is not invited (BANNED, nothing sent; the ban's pattern is not shown).
    """
    given, parsed_name = split_address(email)
    email = given.lower()
    if not _may_send(email, ""):
        return WorkflowResult(Status.RATE_LIMITED, Status.RATE_LIMITED, email, mlist)
    if is_banned(mlist, email):
        return WorkflowResult(Status.BANNED, Status.BANNED, email, mlist)
    if Membership.objects.filter(mailing_list=mlist, address__email=email, role=Role.MEMBER).exists():
        return WorkflowResult(Status.ALREADY_MEMBER, Status.ALREADY_MEMBER, email, mlist)
    data = {"display_name": display_name or parsed_name, "inviter": getattr(inviter, "pk", None), "via": "admin"}
    issued = tokens.issue(mlist, email, TokenAction.INVITATION, data)
    notices.send_confirmation(mlist, email, issued.token, TemplateName.INVITATION)
    return WorkflowResult(Status.INVITED, Status.INVITED, email, mlist, token=issued.token)


def pending_requests(mlist: MailingList) -> QuerySet[SubscriptionRequest]:
    """The subscriptions waiting for the owners of `mlist`, oldest first."""
    return SubscriptionRequest.objects.filter(mailing_list=mlist, status=RequestStatus.PENDING).order_by("requested_at")


@transaction.atomic
def approve_request(request: SubscriptionRequest, user: AbstractBaseUser | None, *, via: str = "web") -> WorkflowResult:
    """Subscribe the requester. RequestAlreadyDecided when another moderator
    decided first; BannedAddress (the request stays pending) when the
    address was banned meanwhile. Each decision here is logged
    (messages.moderation_log), with `via` saying where it was taken."""
    _decide(request, user, RequestStatus.APPROVED, via=via)
    mlist = request.mailing_list
    result = _join(mlist, request.email, request.display_name, send_welcome=request.send_welcome)
    emit("subscription_request_decided", mailing_list=mlist, request=request, email=request.email)
    return WorkflowResult(result.status, result.status, request.email, mlist, result.membership, request)


@transaction.atomic
def reject_request(
    request: SubscriptionRequest, user: AbstractBaseUser | None, reason: str = "", *, via: str = "web"
) -> WorkflowResult:
    """Refuse the request; the requester is told, with `reason` when given."""
    _decide(request, user, RequestStatus.REJECTED, reason, via=via)
    mlist = request.mailing_list
    transaction.on_commit(partial(notices.send_refusal, mlist, request.email, reason), robust=True)
    emit("subscription_request_decided", mailing_list=mlist, request=request, email=request.email)
    return WorkflowResult(Status.NOT_MEMBER, Status.NOT_MEMBER, request.email, mlist, request=request)


@transaction.atomic
def defer_request(
    request: SubscriptionRequest, user: AbstractBaseUser | None, *, via: str = "web"
) -> SubscriptionRequest:
    """Leave the request pending, marked as seen (Mailman's defer)."""
    updated = SubscriptionRequest.objects.filter(pk=request.pk, status=RequestStatus.PENDING).update(
        deferred_at=timezone.now()
    )
    if not updated:
        request.refresh_from_db()
        raise RequestAlreadyDecided(request)
    request.refresh_from_db()
    _log(request, user, "deferred", via=via)
    return request


def mass_subscribe(mlist: MailingList, lines: Iterable[str], *, send_welcome: bool = True, **options) -> BulkResult:
    """members.services.bulk_subscribe by an owner, and a welcome mail to each
    new member when `send_welcome` and the list sends them, by the workers
    once the caller's transaction commits (notices.send_later)."""
    result = bulk_subscribe(mlist, lines, **options)
    if send_welcome and mlist.send_welcome_message and options.get("role", Role.MEMBER) == Role.MEMBER:
        transaction.on_commit(partial(notices.send_later, mlist, "welcome", result.added), robust=True)
    return result


def mass_unsubscribe(mlist: MailingList, lines: Iterable[str], *, send_goodbye: bool = True, **options) -> BulkResult:
    """members.services.bulk_unsubscribe by an owner, and a goodbye mail to each
    one removed when `send_goodbye` and the list sends them (as mass_subscribe's welcomes)."""
    result = bulk_unsubscribe(mlist, lines, **options)
    if send_goodbye and mlist.send_goodbye_message and options.get("role", Role.MEMBER) == Role.MEMBER:
        transaction.on_commit(partial(notices.send_later, mlist, "goodbye", result.removed), robust=True)
    return result


def _check_via(via: str) -> None:
    if via not in VIA:
        raise ValueError(f"via must be one of {', '.join(VIA)}, not {via!r}")


def _may_send(email: str, client_ip: str) -> bool:
    """Rate limits on mail to `email`, asked for from `client_ip`."""
    return ratelimit.allow("ip", client_ip) and ratelimit.allow("address", email)


# What the person who confirmed is told, where the truth is none of the
# requester's business or the pages have no wording for it: a ban is not
# announced (the link just does not work); being a member already, or no
# longer, is the outcome that was asked for.
PUBLIC_AFTER_CONFIRMING = {
    Status.ALREADY_MEMBER: Status.SUBSCRIBED,
    Status.ALREADY_PENDING: Status.PENDING_APPROVAL,
    Status.NOT_MEMBER: Status.UNSUBSCRIBED,
    Status.BANNED: Status.INVALID_TOKEN,
}


@transaction.atomic
def _confirm(token: str, mlist: MailingList | None, actions: tuple[str, ...]) -> WorkflowResult:
    try:
        row = tokens.consume(token, mlist=mlist, actions=actions)
    except tokens.InvalidToken:
        return WorkflowResult(Status.INVALID_TOKEN, Status.INVALID_TOKEN, mailing_list=mlist)
    if row.action == TokenAction.UNSUBSCRIBE:
        result = _leave_confirmed(row)
    else:
        result = _join_confirmed(row)
    return replace(result, public_status=PUBLIC_AFTER_CONFIRMING.get(result.status, result.public_status))


def _leave_confirmed(row: ConfirmationToken) -> WorkflowResult:
    mlist, email = row.mailing_list, row.email
    membership = (
        Membership.objects.select_related("address", "mailing_list")
        .filter(mailing_list=mlist, address__email=email, role=Role.MEMBER)
        .first()
    )
    if membership is None or not _leave(membership, send_goodbye=row.data.get("send_goodbye", True)):
        return WorkflowResult(Status.NOT_MEMBER, Status.NOT_MEMBER, email, mlist)
    return WorkflowResult(Status.UNSUBSCRIBED, Status.UNSUBSCRIBED, email, mlist)


def _join_confirmed(row: ConfirmationToken) -> WorkflowResult:
    mlist, email, data = row.mailing_list, row.email, row.data
    if is_banned(mlist, email):
        return WorkflowResult(Status.BANNED, Status.BANNED, email, mlist)
    # Whoever holds the token read the mail sent to the address.
    verify_address(email)
    if _subscription_state(mlist, email) == Status.ALREADY_MEMBER:
        # Mailed to a member too (see request_subscription); nothing to do,
        # and no request for the owners.
        return WorkflowResult(Status.ALREADY_MEMBER, Status.ALREADY_MEMBER, email, mlist)
    display_name = data.get("display_name", "")
    if row.action == TokenAction.INVITATION:
        return _subscribe_or_hold(mlist, email, display_name, needs_approval=False, send_welcome=True, via="admin")
    needs_approval = mlist.subscription_policy in MODERATING and not data.get("pre_approved", False)
    return _subscribe_or_hold(
        mlist,
        email,
        display_name,
        needs_approval=needs_approval,
        send_welcome=data.get("send_welcome", True),
        via=data.get("via", ""),
    )


def _subscribe_or_hold(
    mlist: MailingList, email: str, display_name: str, *, needs_approval: bool, send_welcome: bool, via: str
) -> WorkflowResult:
    if not needs_approval:
        return _join(mlist, email, display_name, send_welcome=send_welcome)
    try:
        with transaction.atomic():
            request = SubscriptionRequest.objects.create(
                mailing_list=mlist, email=email, display_name=display_name, via=via, send_welcome=send_welcome
            )
    except IntegrityError:
        return WorkflowResult(Status.ALREADY_PENDING, Status.PENDING_APPROVAL, email, mlist)
    emit("subscription_requested", mailing_list=mlist, request=request, email=email)
    if mlist.admin_immed_notify:
        transaction.on_commit(partial(notices.send_request_notice, mlist, email), robust=True)
    return WorkflowResult(Status.PENDING_APPROVAL, Status.PENDING_APPROVAL, email, mlist, request=request)


def _join(mlist: MailingList, email: str, display_name: str, *, send_welcome: bool) -> WorkflowResult:
    try:
        membership = subscribe(mlist, email, display_name=display_name)
    except AlreadySubscribed:
        return WorkflowResult(Status.ALREADY_MEMBER, Status.ALREADY_MEMBER, email, mlist)
    if send_welcome and mlist.send_welcome_message:
        transaction.on_commit(partial(notices.send_welcome, mlist, email, display_name), robust=True)
    return WorkflowResult(Status.SUBSCRIBED, Status.SUBSCRIBED, email, mlist, membership)


def _leave(membership: Membership, *, send_goodbye: bool) -> bool:
    """Remove `membership` and say goodbye; False, sending nothing, when it
    was removed already (by a request running at the same time)."""
    mlist, email = membership.mailing_list, membership.address.email
    if not remove_membership(membership):
        return False
    if send_goodbye and mlist.send_goodbye_message:
        transaction.on_commit(partial(notices.send_goodbye, mlist, email), robust=True)
    return True


def _decide(
    request: SubscriptionRequest, user: AbstractBaseUser | None, status: str, reason: str = "", *, via: str
) -> None:
    """Record the decision once (the first of two moderators wins), and log it."""
    now = timezone.now()
    decided_by = user if user is not None and user.is_authenticated else None
    updated = SubscriptionRequest.objects.filter(pk=request.pk, status=RequestStatus.PENDING).update(
        status=status, decided_at=now, decided_by=decided_by, decision_reason=reason
    )
    request.refresh_from_db()
    if not updated:
        raise RequestAlreadyDecided(request)
    _log(request, user, status, reason, via=via)


def _log(
    request: SubscriptionRequest, user: AbstractBaseUser | None, action: str, reason: str = "", *, via: str
) -> None:
    moderation_log.record(
        request.mailing_list,
        action,
        via=via,
        user=user,
        kind=ModerationKind.SUBSCRIPTION,
        sender=request.email,
        reason=reason,
    )
