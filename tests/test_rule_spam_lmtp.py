"""Spam end to end: corpus messages delivered over a real LMTP connection,
processed as the worker does, judged by Debian's real spamd, and then held,
discarded, or sent to the members through a real SMTP server on loopback."""

import pytest

from lists.services import configure_list
from members.services import subscribe
from messages.delivery import send_batch
from messages.dispatch import process_inbound_message
from messages.models import HeldMessage, InboundMessage, InboundStatus, Post
from messages.pipeline.mime import message_bytes, parse_message
from tests.lmtp_client import as_mta_sends, connected, deliver, queued_ids, running_lmtp_server, use_stub_broker

pytest.register_assert_rewrite("tests.spamd_fixtures")
from tests.spamd_fixtures import CORPUS, GTUBE  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)
pytest_plugins = ["tests.mail_fixtures", "tests.spamd_fixtures"]

READER = "reader@example.net"


@pytest.fixture
def post_over_lmtp(mlist, member, monkeypatch, smtp_sink):
    """Send raw bytes to the list over LMTP and process what was queued; the stored row."""
    subscribe(mlist, READER)
    inbound_queue = use_stub_broker(monkeypatch)
    with running_lmtp_server() as server, connected(server) as client:

        def send(raw: bytes) -> InboundMessage:
            delivery = deliver(client, ["ant@example.com"], as_mta_sends(raw), mail_from="member@example.org")
            assert delivery.data_codes == [250], delivery
            [inbound_id] = queued_ids(inbound_queue)
            inbound_queue.flush_all()
            process_inbound_message(inbound_id)
            return InboundMessage.objects.get(pk=inbound_id)

        yield send


def from_member(path) -> bytes:
    """A corpus message as the member's post to the list."""
    msg = parse_message(path.read_bytes())
    msg.replace_header("From", "Member <member@example.org>")
    msg.replace_header("To", "ant@example.com")
    return message_bytes(msg)


def test_gtube_over_lmtp_is_held_and_reaches_nobody(post_over_lmtp, spamd, smtp_sink):
    inbound = post_over_lmtp(GTUBE.read_bytes())
    assert inbound.status == InboundStatus.HELD
    held = HeldMessage.objects.get()
    assert held.sender == "sender@example.org"
    assert held.reasons[0].startswith("SpamAssassin scored it 1000.")
    assert "GTUBE" in held.reasons[0]
    assert not Post.objects.exists()
    assert smtp_sink.to(READER) == []


def test_gtube_over_lmtp_is_discarded_at_the_lists_discard_score(post_over_lmtp, mlist, spamd):
    configure_list(mlist, spam_discard_score=20.0)
    inbound = post_over_lmtp(GTUBE.read_bytes())
    assert inbound.status == InboundStatus.DISCARDED
    assert not HeldMessage.objects.exists()
    assert not Post.objects.exists()


def test_a_ham_corpus_message_passes_spamd_and_is_delivered(post_over_lmtp, spamd, smtp_sink):
    inbound = post_over_lmtp(from_member(CORPUS / "mime" / "msg_01.txt"))
    assert inbound.status == InboundStatus.ACCEPTED
    post = Post.objects.get()
    for batch_id in post.batches.values_list("pk", flat=True):
        send_batch(batch_id)
    [received] = smtp_sink.to(READER)
    assert "Do you like this message?" in received.message.get_body().get_content()
