"""The to-outgoing handler: the stored post goes to delivery."""

from django.utils.translation import gettext_lazy

from messages.pipeline import Handler, register_handler
from messages.pipeline.storing import stage_delivery


@register_handler
class ToOutgoing(Handler):
    """Hand the post to delivery, which takes the snapshot of the
    recipients and queues its batches once the transaction commits: with
    the post when it is still to be stored (messages.pipeline.storing)."""

    name = "to-outgoing"
    description = gettext_lazy("Queue the stored post for delivery to the members.")

    def process(self, mlist, msg, state):
        # Imported here: delivery imports the models this package's callers load first.
        from messages.delivery import enqueue_post

        if state.post is None:
            raise RuntimeError("to-outgoing needs the stored post: put to-archive before it in the pipeline")
        if not stage_delivery(state):
            enqueue_post(state.post)
