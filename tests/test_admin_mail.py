"""The mail path's rows in Django admin: read-only, with actions that call
the same functions as the mail path and the moderation API."""

import pytest
from django.urls import reverse

from mailman_site.broker import broker
from messages.models import HeldStatus, InboundStatus, Post
from tests.inbound_mail import compose, deliver, receive

pytest_plugins = ["tests.mail_fixtures"]


@pytest.fixture
def admin_client(client, site_admin):
    client.force_login(site_admin)
    return client


def test_a_parked_message_shows_its_error_and_text_escaped(admin_client, mlist):
    inbound = receive(mlist, compose(subject="<script>alert(1)</script>"))
    inbound.status, inbound.error = InboundStatus.PARKED, "ValueError: broken"
    inbound.save()
    page = admin_client.get(reverse("admin:mail_inboundmessage_change", args=[inbound.pk])).content.decode()
    assert "ValueError: broken" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page


def test_retrying_a_parked_message_queues_it_again(admin_client, mlist, django_capture_on_commit_callbacks):
    inbound = receive(mlist, compose())
    inbound.status = InboundStatus.PARKED
    inbound.save()
    broker.flush_all()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:mail_inboundmessage_changelist"),
            {"action": "retry_processing", "_selected_action": [inbound.pk]},
        )
    inbound.refresh_from_db()
    assert inbound.status == InboundStatus.QUEUED
    assert broker.queues["inbound"].qsize() == 1


def test_approving_a_held_message_in_admin_posts_it(admin_client, mlist, member):
    inbound = deliver(mlist, compose(sender="outsider@example.net"), mail_from="outsider@example.net")
    admin_client.post(
        reverse("admin:mail_heldmessage_changelist"), {"action": "approve", "_selected_action": [inbound.held.pk]}
    )
    inbound.held.refresh_from_db()
    assert inbound.held.status == HeldStatus.APPROVED
    assert Post.objects.filter(inbound=inbound).exists()


def test_posts_show_their_delivery_progress(admin_client, mlist, member):
    deliver(mlist, compose())
    page = admin_client.get(reverse("admin:mail_post_changelist")).content.decode()
    assert "0 / 0 / 1 of 1" in page
