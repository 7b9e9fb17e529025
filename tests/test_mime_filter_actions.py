"""What becomes of a post the MIME filter leaves with nothing (the list's
filter_action), on arrival and on a moderator's approval; and a filtered
post delivered to the members over real SMTP, and over real LMTP."""

import pytest
from django.urls import reverse

from lists.models import Action, FilterAction
from lists.services import configure_list
from members.models import Role
from members.services import subscribe
from messages import moderation
from messages.delivery import send_batch
from messages.dispatch import process_inbound_message
from messages.models import DeliveryBatch, InboundMessage, InboundStatus, Post
from messages.pipeline.mime import message_bytes, parse_message
from tests.inbound_mail import compose, corpus_message, deliver
from tests.lmtp_client import as_mta_sends, connected, queued_ids, running_lmtp_server, use_stub_broker
from tests.lmtp_client import deliver as deliver_over_lmtp

pytest_plugins = ["tests.mail_fixtures"]

EMPTIED = "After content filtering, the message was empty"


def only_an_image(sender: str = "member@example.org"):
    """A post of one image, in a multipart/mixed (by default from the list's member)."""
    msg = compose(sender=sender, subject="Look at this")
    msg.make_mixed()
    msg.set_payload([])
    msg.add_attachment(b"GIF89a;", maintype="image", subtype="gif", filename="cat.gif")
    return msg


@pytest.fixture
def filtering_images(mlist, member):
    configure_list(mlist, filter_content=True, filter_types="image")
    return mlist


def test_a_post_left_empty_is_discarded_by_default(filtering_images, smtp_sink):
    inbound = deliver(filtering_images, only_an_image())
    assert inbound.status == InboundStatus.DISCARDED
    assert inbound.error == f"mime-delete: {EMPTIED}"
    assert not Post.objects.exists()
    assert not smtp_sink.received
    filtering_images.refresh_from_db()
    assert filtering_images.next_post_id == 1


def test_a_post_of_a_filtered_type_is_discarded_whole(filtering_images):
    msg = compose()
    msg.set_content(b"GIF89a;", "image", "gif")
    inbound = deliver(filtering_images, msg)
    assert inbound.status == InboundStatus.DISCARDED
    assert "content type was explicitly disallowed" in inbound.error


def test_reject_tells_the_sender_why_with_the_post_as_received(filtering_images, smtp_sink):
    configure_list(filtering_images, filter_action=FilterAction.REJECT)
    msg = only_an_image()
    inbound = deliver(filtering_images, msg)
    assert inbound.status == InboundStatus.REJECTED
    [notice] = smtp_sink.received
    assert notice.rcpt_tos == ["member@example.org"]
    assert EMPTIED in notice.message.get_body(("plain",)).get_content()
    attached = next(part for part in notice.message.walk() if part.get_content_type() == "message/rfc822")
    assert "image/gif" in [part.get_content_type() for part in attached.walk()]
    assert not Post.objects.exists()


def test_reject_waits_for_the_smtp_server_rather_than_rejecting_unannounced(filtering_images, smtp_down):
    configure_list(filtering_images, filter_action=FilterAction.REJECT)
    inbound = deliver(filtering_images, only_an_image())
    assert inbound.status == InboundStatus.QUEUED
    assert not Post.objects.exists()


def test_forward_sends_the_post_to_the_owners_and_moderators(filtering_images, owner, smtp_sink):
    subscribe(filtering_images, "moderator@example.org", role=Role.MODERATOR)
    configure_list(filtering_images, filter_action=FilterAction.FORWARD)
    msg = only_an_image()
    inbound = deliver(filtering_images, msg)
    assert inbound.status == InboundStatus.FORWARDED
    [notice] = smtp_sink.received
    assert sorted(notice.rcpt_tos) == ["moderator@example.org", "owner@example.org"]
    assert notice.mail_from == "ant-bounces@example.com"
    assert notice.message["Subject"] == "Content filter message notification"
    assert EMPTIED in notice.message.get_body(("plain",)).get_content()
    attached = next(part for part in notice.message.walk() if part.get_content_type() == "message/rfc822")
    assert attached.get_payload()[0]["Message-ID"] == msg["Message-ID"]
    assert not Post.objects.exists()


def test_forward_for_a_list_without_owners_is_parked_not_lost(filtering_images, smtp_sink):
    configure_list(filtering_images, filter_action=FilterAction.FORWARD)
    inbound = deliver(filtering_images, only_an_image())
    assert inbound.status == InboundStatus.PARKED
    assert "no owners or moderators" in inbound.error
    assert not smtp_sink.received


def test_preserve_keeps_the_post_for_the_site_admins(filtering_images, client, site_admin):
    configure_list(filtering_images, filter_action=FilterAction.PRESERVE)
    msg = only_an_image()
    inbound = deliver(filtering_images, msg)
    assert inbound.status == InboundStatus.PRESERVED
    assert bytes(inbound.raw) == message_bytes(msg)
    assert EMPTIED in inbound.error
    assert not Post.objects.exists()
    client.force_login(site_admin)
    meta = InboundMessage._meta
    changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    page = client.get(changelist, {"status__exact": InboundStatus.PRESERVED})
    assert [row.pk for row in page.context["cl"].result_list] == [inbound.pk]


def test_an_approved_post_the_filter_empties_takes_the_filter_action(filtering_images, owner):
    configure_list(filtering_images, default_nonmember_action=Action.HOLD, filter_action=FilterAction.PRESERVE)
    outsider = "outsider@example.net"
    held = deliver(filtering_images, only_an_image(outsider), mail_from=outsider).held
    assert moderation.approve(held, owner) is None
    held.refresh_from_db()
    held.inbound.refresh_from_db()
    assert held.status == "approved"
    assert held.inbound.status == InboundStatus.PRESERVED
    assert EMPTIED in held.inbound.error
    assert not Post.objects.exists()


def test_the_members_receive_the_filtered_post(filtering_images, smtp_sink):
    configure_list(filtering_images, convert_html_to_plaintext=True, collapse_alternatives=False)
    msg = compose(subject="Pictures", body="Plain\n")
    msg.add_alternative("<p>Caf\u00e9 <b>cr\u00e8me</b></p>", subtype="html")
    msg.add_attachment(b"GIF89a;", maintype="image", subtype="gif", filename="cat.gif")
    inbound = deliver(filtering_images, msg)
    assert inbound.status == InboundStatus.ACCEPTED
    for batch in DeliveryBatch.objects.filter(post__inbound=inbound):
        send_batch(batch.pk)
    [copy] = smtp_sink.to("member@example.org")
    types = [part.get_content_type() for part in copy.message.walk()]
    assert "image/gif" not in types and "text/html" not in types
    texts = [part.get_content() for part in copy.message.walk() if part.get_content_type() == "text/plain"]
    assert any("Caf\u00e9 cr\u00e8me" in text for text in texts)
    assert copy.message["X-Content-Filtered-By"] == "mime-delete"


@pytest.mark.django_db(transaction=True)
def test_a_post_over_lmtp_is_filtered_before_it_is_stored(mlist, member, monkeypatch):
    configure_list(mlist, filter_content=True, filter_extensions="exe", filter_action=FilterAction.PRESERVE)
    broker = use_stub_broker(monkeypatch)
    clean = parse_message(corpus_message("msg_22.txt"))
    clean.replace_header("From", "member@example.org")
    clean.replace_header("To", "ant@example.com")
    clean["Subject"] = "Wibble"
    dangerous = only_an_image()
    dangerous.get_payload()[0].set_param("filename", "setup.exe", header="Content-Disposition")
    with running_lmtp_server() as server, connected(server) as client:
        for msg in (clean, dangerous):
            delivery = deliver_over_lmtp(client, ["ant@example.com"], as_mta_sends(message_bytes(msg)))
            assert delivery.data_codes == [250]
    for inbound_id in queued_ids(broker):
        process_inbound_message(inbound_id)
    statuses = sorted(InboundMessage.objects.values_list("status", flat=True))
    assert statuses == [InboundStatus.ACCEPTED, InboundStatus.PRESERVED]
    post = parse_message(bytes(Post.objects.get().raw))
    assert "image/jpeg" in [part.get_content_type() for part in post.walk()]
