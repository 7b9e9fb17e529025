"""The to-outgoing handler: the stored post goes to delivery."""

from django.utils.translation import gettext_lazy

from messages.pipeline import Handler, register_handler


@register_handler
class ToOutgoing(Handler):
    """Hand the stored post to delivery, which takes the snapshot of the
    recipients and queues its batches once the transaction commits."""

    name = "to-outgoing"
    description = gettext_lazy("Queue the stored post for delivery to the members.")

    def process(self, mlist, msg, state):
        # Imported here: delivery imports the models this package's callers load first.
        from messages.delivery import enqueue_post

        if state.post is None:
            raise RuntimeError("to-outgoing needs the stored post: put to-archive before it in the pipeline")
        enqueue_post(state.post)
