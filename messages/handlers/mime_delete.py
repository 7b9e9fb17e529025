"""The mime-delete handler: the list's MIME filter."""

from django.utils.translation import gettext_lazy

from messages.mime_filter import Filtered, FilterSettings, filter_message
from messages.pipeline import Handler, register_handler
from messages.pipeline.runner import PostEnded
from messages.pipeline.state import Disposal


@register_handler
class MimeDelete(Handler):
    """When the list filters content, remove the parts its settings name,
    collapse alternatives, flatten and convert HTML (messages.mime_filter).
    A post left with nothing ends here, as the list's filter_action says:
    discarded, rejected, forwarded to the owners or preserved for the
    site's admins. Signed and encrypted parts are left alone."""

    name = "mime-delete"
    description = gettext_lazy("Filter the MIME content of posts.")

    def process(self, mlist, msg, state):
        if not mlist.filter_content:
            return
        try:
            filter_message(msg, FilterSettings.of(mlist))
        except Filtered as exc:
            raise PostEnded(Disposal(mlist.filter_action), str(exc)) from exc
