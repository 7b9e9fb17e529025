"""What a post carries through the rule chain and the handlers.

Mailman passes an untyped `msgdata` dict with dozens of keys; here every
piece of state has a name, a type and a default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from messages.list_configuration import ListConfiguration
    from messages.models import Post
    from messages.pipeline.storing import StagedPost


class Decision(StrEnum):
    """How a chain ends: Mailman's four terminal chains."""

    ACCEPT = "accept"
    HOLD = "hold"
    REJECT = "reject"
    DISCARD = "discard"


class OnHit(StrEnum):
    """What the chain does when a rule hits (Mailman's link actions)."""

    ACCEPT = "accept"
    HOLD = "hold"
    REJECT = "reject"
    DISCARD = "discard"
    # Take the action the rule chose and left in PostState.moderation_action.
    MODERATE = "moderate"
    # Note the hit and its reason, go on with the next rule, and hold once the
    # last rule has run: a moderator then sees every reason at once.
    DEFER = "defer"


class Disposal(StrEnum):
    """What becomes of an accepted post a handler ends before it is stored
    (Mailman's filter_action, lists.models.FilterAction, has these values)."""

    DISCARD = "discard"
    # Refused, with a notice to the sender.
    REJECT = "reject"
    # Sent to the list's owners and moderators instead of the members.
    FORWARD = "forward"
    # Kept, not posted, for the site's admins to look at.
    PRESERVE = "preserve"


@dataclass
class PostState:
    """One post on its way through the pipeline.

    `senders` are the addresses that may have written the message, most
    trustworthy first (see messages.pipeline.mime.find_senders); `sender` is
    the first of them. Rules append to `reasons` what a person should read;
    the chain runner fills `rule_hits`, `rule_misses` and `decision`. A
    post a handler ended (messages.pipeline.runner.PostEnded) has its
    `disposal`, and no `post`.
    """

    inbound_id: int | None = None
    envelope_sender: str = ""
    senders: list[str] = field(default_factory=list)
    size: int = 0
    # A moderator released this post from the hold queue.
    approved: bool = False
    rule_hits: list[str] = field(default_factory=list)
    rule_misses: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    # Set by the member and nonmember moderation rules: accept, hold, reject
    # or discard (lists.models.Action), and for which sender.
    moderation_action: str = ""
    moderation_sender: str = ""
    # The moderation action of each sender who is a member of the list, when
    # read already (for a group of posts at once); else the rule reads it.
    member_actions: dict[str, str] | None = None
    decision: Decision | None = None
    disposal: Disposal | None = None
    # The list's post number, reserved when the post is accepted.
    sequence: int | None = None
    # The inbound row to mark accepted with the post when it is stored (set
    # by the dispatcher while it accepts the post, cleared once done).
    inbound_to_finish: int | None = None
    original_subject: str = ""
    post: Post | None = None
    # The post to store once the handlers are done (messages.pipeline.storing).
    staged: StagedPost | None = None
    # The list's bans, filters and footer texts, read once for the post
    # (see messages.list_configuration.configuration_of).
    configuration: ListConfiguration | None = None

    @property
    def sender(self) -> str:
        return self.senders[0] if self.senders else ""
