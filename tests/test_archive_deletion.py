"""Deleting a message from the archive: its replies move up to its parent,
its thread's root, counts and dates are recounted, an emptied thread goes,
and the list's counts follow. Owners delete from the message's page, with
a confirmation and a CSRF-checked POST."""

import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from archive.deletion import delete_message
from archive.models import ArchivedMessage, Attachment, ListArchive, Reference, Thread, WithdrawnPost
from archive.services import archive_message, archive_stored_post
from mailman_site.events import archived_message_deleted
from messages.sweeper import sweep
from tests.archive_mail import START, archive, conversation, mail, with_attachment
from tests.conftest import logged_in
from tests.inbound_mail import compose, deliver

pytest_plugins = ["tests.mail_fixtures"]

ARCHIVE = "/lists/ant.example.com/archive/"


@pytest.fixture
def talk(mlist):
    return conversation(mlist)


def fresh(message: ArchivedMessage) -> ArchivedMessage:
    return ArchivedMessage.objects.get(pk=message.pk)


def counts(mlist) -> tuple[int, int]:
    archive_row = ListArchive.objects.get(mailing_list=mlist)
    return archive_row.message_count, archive_row.thread_count


def test_deleting_a_leaf_recounts_its_thread(mlist, talk):
    thread = talk["root"].thread
    deleted = delete_message(talk["second"])
    assert deleted.replies_moved == 0
    thread.refresh_from_db()
    assert thread.message_count == 3
    assert thread.participant_count == 2
    assert thread.last_activity == START + timedelta(days=2)
    assert not ArchivedMessage.objects.filter(message_id="second@x").exists()
    assert counts(mlist) == (5, 3)


def test_deleting_a_middle_message_moves_its_replies_to_its_parent(mlist, talk):
    deleted = delete_message(talk["reply"])
    assert deleted.replies_moved == 1
    assert fresh(talk["deeper"]).parent_id == talk["root"].pk
    thread = Thread.objects.get(pk=talk["root"].thread_id)
    assert thread.message_count == 3
    assert thread.participant_count == 2
    assert thread.root_id == talk["root"].pk
    assert counts(mlist) == (5, 3)


def test_deleting_the_root_makes_the_earliest_remaining_message_the_root(mlist, talk):
    delete_message(talk["root"])
    thread = Thread.objects.get(pk=talk["reply"].thread_id)
    assert thread.root_id == talk["reply"].pk
    assert thread.subject == "Re: Where do ants sleep?"
    assert thread.started_at == START + timedelta(days=1)
    assert fresh(talk["reply"]).parent_id is None
    assert fresh(talk["second"]).parent_id is None
    assert fresh(talk["deeper"]).parent_id == talk["reply"].pk
    assert thread.message_count == 3
    assert counts(mlist) == (5, 3)


def test_deleting_the_only_message_deletes_its_thread(mlist, talk):
    thread_id = talk["other"].thread_id
    deleted = delete_message(talk["other"])
    assert deleted.thread is None
    assert not Thread.objects.filter(pk=thread_id).exists()
    assert counts(mlist) == (5, 2)


def test_deleting_every_message_empties_the_archive(mlist, talk):
    for message in talk.values():
        delete_message(message)
    assert counts(mlist) == (0, 0)
    assert not Thread.objects.exists()
    assert "Nothing is archived yet." in Client().get(ARCHIVE).content.decode()


def test_deleting_twice_deletes_once(mlist, talk):
    assert delete_message(talk["other"]) is not None
    assert delete_message(talk["other"]) is None
    assert counts(mlist) == (5, 2)


def test_its_attachments_and_references_go_with_it_and_others_references_stay(mlist, talk):
    archive(mlist, with_attachment("files@x", content_type="image/png", disposition="filename=a.png", content=b"x"))
    files = ArchivedMessage.objects.get(message_id="files@x")
    delete_message(files)
    assert not Attachment.objects.exists()
    delete_message(talk["reply"])
    assert not Reference.objects.filter(message_id=talk["reply"].pk).exists()
    # The reply to it still refers to it: a copy archived again adopts it back.
    assert Reference.objects.filter(message_id=talk["deeper"].pk, ref_hash=talk["reply"].message_id_hash).exists()


def test_a_deleted_message_archived_again_takes_its_place_back(mlist, talk):
    raw = bytes(ArchivedMessage.objects.get(pk=talk["reply"].pk).raw)
    delete_message(talk["reply"])
    again = archive_message(mlist, raw).message
    assert fresh(talk["deeper"]).parent_id == again.pk
    assert again.thread_id == talk["root"].thread_id
    assert counts(mlist) == (6, 3)


def test_a_deleted_post_is_not_archived_again_by_the_sweeper(mlist, member, monkeypatch):
    sent = []
    monkeypatch.setattr("archive.tasks.archive_post.send", sent.append)
    post = deliver(mlist, compose()).post
    archived = archive_stored_post(post.pk)
    delete_message(archived)
    sweep(now=timezone.now() + timedelta(hours=1))
    assert sent == []
    assert not ArchivedMessage.objects.exists()


def test_a_deleted_post_whose_archive_nudge_was_still_queued_stays_out(mlist, member):
    post = deliver(mlist, compose()).post
    delete_message(archive_stored_post(post.pk))
    assert archive_stored_post(post.pk) is None
    assert not ArchivedMessage.objects.exists()
    assert WithdrawnPost.objects.filter(post=post).exists()


def test_the_deletion_is_logged_with_who_deleted_what(mlist, talk, owner, caplog):
    with caplog.at_level(logging.INFO, logger="archive.deletion"):
        delete_message(talk["other"], deleted_by=owner)
    assert "owner@example.org deleted <other@x>" in caplog.text


def test_the_deletion_is_announced_after_the_commit(mlist, talk, owner, django_capture_on_commit_callbacks):
    heard = []
    archived_message_deleted.connect(lambda sender, **payload: heard.append(payload), weak=False, dispatch_uid="d1")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            delete_message(talk["other"], deleted_by=owner)
    finally:
        archived_message_deleted.disconnect(dispatch_uid="d1")
    assert heard == [
        {
            "signal": archived_message_deleted,
            "mailing_list": mlist,
            "message_id": "other@x",
            "message_id_hash": talk["other"].message_id_hash,
            "deleted_by": owner,
        }
    ]


def test_the_owner_confirms_then_deletes_from_the_messages_page(mlist, talk, owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    path = f"{ARCHIVE}message/{talk['reply'].message_id_hash}/delete/"
    confirm = client.get(path)
    assert "Delete a message from the archive?" in confirm.content.decode()
    token = confirm.cookies["csrftoken"].value
    response = client.post(path, {"csrfmiddlewaretoken": token}, follow=True)
    assert response.redirect_chain[-1][0] == f"{ARCHIVE}thread/{talk['root'].message_id_hash}/"
    assert "The message is deleted from the archive." in response.content.decode()
    assert not ArchivedMessage.objects.filter(pk=talk["reply"].pk).exists()


def test_deleting_a_threads_last_message_leads_to_the_index(mlist, talk, owner):
    response = logged_in(owner).post(f"{ARCHIVE}message/{talk['other'].message_id_hash}/delete/")
    assert response["Location"] == ARCHIVE


def test_a_delete_without_the_csrf_token_is_refused(mlist, talk, owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(f"{ARCHIVE}message/{talk['reply'].message_id_hash}/delete/")
    assert response.status_code == 403
    assert ArchivedMessage.objects.filter(pk=talk["reply"].pk).exists()


def test_the_deleted_message_is_gone_from_every_page(mlist, talk, owner):
    logged_in(owner).post(f"{ARCHIVE}message/{talk['second'].message_id_hash}/delete/")
    assert Client().get(f"{ARCHIVE}message/{talk['second'].message_id_hash}/").status_code == 404
    thread_page = Client().get(f"{ARCHIVE}thread/{talk['root'].message_id_hash}/").content.decode()
    assert "They do not sleep." not in thread_page
    assert "3 messages" in thread_page


@pytest.mark.slow
def test_a_chain_1500_deep_loses_its_middle(mlist):
    archive(mlist, mail("c0@x"))
    for number in range(1, 1500):
        archive(mlist, mail(f"c{number}@x", in_reply_to=f"c{number - 1}@x", date=START + timedelta(seconds=number)))
    delete_message(ArchivedMessage.objects.get(message_id="c700@x"))
    assert ArchivedMessage.objects.get(message_id="c701@x").parent.message_id == "c699@x"
    assert Thread.objects.get().message_count == 1499
