"""The cook-headers handler."""

from email.utils import make_msgid

from django.utils.translation import gettext_lazy

from messages.pipeline import Handler, register_handler


@register_handler
class CookHeaders(Handler):
    """Mark the post as list mail: Precedence: list (unless the sender set
    one), and our X-BeenThere, which the loop rule looks for when a post
    comes back. A post without a Message-ID gets one, so that replies,
    archives and duplicate detection can refer to it."""

    name = "cook-headers"
    description = gettext_lazy("Add Precedence, X-BeenThere and a missing Message-ID.")

    def process(self, mlist, msg, state):
        if "Message-ID" not in msg:
            msg["Message-ID"] = make_msgid(domain=mlist.domain.mail_host)
        if "Precedence" not in msg:
            msg["Precedence"] = "list"
        msg["X-BeenThere"] = mlist.posting_address
