"""The to-archive handler: the accepted post is stored, once."""

from django.utils.translation import gettext_lazy

from archive.tasks import archive_on_commit
from mailman_site.events import emit
from messages.models import Post
from messages.pipeline import Handler, register_handler
from messages.pipeline.mime import header_text, message_bytes
from messages.pipeline.numbering import save_numbered


@register_handler
class ToArchive(Handler):
    """Store the post as it now reads, under its list's next number, for
    the archive and for delivery; later handlers find it in `state.post`."""

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
        # The number last: taking it locks the list's row until the commit,
        # and every other post to the list waits for that.
        save_numbered(post, mlist, state)
        state.post = post
        emit("message_posted", post=state.post)
        archive_on_commit(post)
