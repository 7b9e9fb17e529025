"""The to-archive handler: the accepted post is stored, once."""

from django.utils.translation import gettext_lazy

from messages.models import Post
from messages.pipeline import Handler, register_handler
from messages.pipeline.mime import header_text, message_bytes
from messages.pipeline.storing import stage


@register_handler
class ToArchive(Handler):
    """Store the post as it now reads, under its list's next number, for
    the archive and for delivery; later handlers find it in `state.post`,
    stored once the handlers are done (messages.pipeline.storing)."""

    name = "to-archive"
    description = gettext_lazy("Store the post for the archive and for delivery.")

    def process(self, mlist, msg, state):
        post = Post(
            mailing_list=mlist,
            inbound_id=state.inbound_id,
            message_id=header_text(msg, "Message-ID")[:998],
            sender=state.sender[:998],
            subject=header_text(msg, "Subject"),
            raw=message_bytes(msg),
        )
        stage(state, mlist, post)
