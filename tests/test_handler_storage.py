"""to-archive stores the post under the list's next number; to-outgoing hands it to delivery."""

from members.services import subscribe
from messages.models import DeliveryBatch, InboundStatus, Post
from messages.pipeline import registry
from messages.pipeline.mime import parse_message
from tests.inbound_mail import compose, deliver


def test_an_accepted_post_is_stored_once_as_it_was_sent(mlist, member):
    inbound = deliver(mlist, compose(subject="Queens", body="Long live the queen.\n"))
    post = Post.objects.get()
    assert post.inbound == inbound
    assert post.mailing_list == mlist
    assert (post.sequence, post.sender, post.subject) == (1, "member@example.org", "[ant] Queens")
    assert post.message_id == inbound.message_id
    stored = parse_message(bytes(post.raw))
    assert stored["List-Id"] == "Ant <ant.example.com>"
    assert "Long live the queen." in stored.get_content()
    assert b"\r\n" in bytes(post.raw) and b"\n" not in bytes(post.raw).replace(b"\r\n", b"")


def test_posts_are_numbered_one_after_the_other(mlist, member):
    for _ in range(3):
        deliver(mlist, compose())
    mlist.refresh_from_db()
    assert list(Post.objects.order_by("pk").values_list("sequence", flat=True)) == [1, 2, 3]
    assert mlist.next_post_id == 4


def test_held_and_discarded_posts_take_no_number(mlist, member):
    deliver(mlist, compose(sender="outsider@example.net"), mail_from="outsider@example.net")
    deliver(mlist, compose(X_BeenThere="ant@example.com"))
    deliver(mlist, compose())
    assert Post.objects.get().sequence == 1


def test_the_post_goes_to_delivery_for_every_member(mlist, member):
    subscribe(mlist, "worker@example.net")
    deliver(mlist, compose())
    post = Post.objects.get()
    assert post.recipient_count == 2
    assert sorted(email for batch in DeliveryBatch.objects.filter(post=post) for email in batch.recipient_list) == [
        "member@example.org",
        "worker@example.net",
    ]


def test_the_post_is_stored_and_its_inbound_row_marked_accepted_together(mlist, member):
    inbound = deliver(mlist, compose())

    inbound.refresh_from_db()
    assert (inbound.status, inbound.error) == (InboundStatus.ACCEPTED, "")
    assert inbound.processed_at is not None
    assert Post.objects.get().inbound == inbound


def test_a_pipeline_that_stores_no_post_still_marks_the_row_accepted(mlist, member, monkeypatch):
    registry.load_builtins()
    without_storage = [name for name in registry.DEFAULT_PIPELINE if name not in ("to-archive", "to-outgoing")]
    monkeypatch.setattr(registry, "DEFAULT_PIPELINE", without_storage)

    inbound = deliver(mlist, compose())

    inbound.refresh_from_db()
    assert inbound.status == InboundStatus.ACCEPTED
    assert not Post.objects.exists()
