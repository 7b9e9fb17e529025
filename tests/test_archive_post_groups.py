"""A group of posts (archive_stored_posts) is archived with a handful of
queries, as archive_stored_post would archive each in turn: same threads,
parents and counts, same skips, same rules for a post whose Message-ID is
archived already."""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import archive.bulk_import
import archive.services
from archive.models import ArchivedMessage, ArchiveNudge, WithdrawnPost
from archive.services import archive_message, archive_stored_post, archive_stored_posts
from lists.models import ArchivePolicy
from lists.services import create_list
from messages.models import Post
from tests.test_archive_bulk_import import START, message, snapshot


@pytest.fixture
def twin(domain):
    return create_list("twin@example.com")


def posted(mlist, raws: list[bytes]) -> list[Post]:
    """Posts of `raws` to `mlist`, numbered on from its last, all received
    at START (which stands in for a missing Date:)."""
    first = Post.objects.filter(mailing_list=mlist).order_by("-sequence").values_list("sequence", flat=True).first()
    posts = [
        Post.objects.create(mailing_list=mlist, sequence=(first or 0) + number, raw=raw)
        for number, raw in enumerate(raws, start=1)
    ]
    Post.objects.filter(pk__in=[post.pk for post in posts]).update(created_at=START)
    return list(Post.objects.filter(pk__in=[post.pk for post in posts]).order_by("sequence"))


def threaded_traffic() -> list[bytes]:
    """Replies before and after their parents, threads that merge, a message
    sent twice and one that cannot be read."""
    rng = random.Random(3)
    raws = []
    for number in range(1, 60):
        parents = [rng.randrange(1, number + 8)] if number > 3 and rng.random() < 0.7 else []
        raws.append(message(number, parents=parents, sender=rng.randrange(5)))
    raws[20:20] = [message(7), b"\x00\xff not a message", message(70, parents=[12, 30])]
    return raws


def linked(mlist) -> dict[str, int]:
    return dict(
        ArchivedMessage.objects.filter(mailing_list=mlist).values_list("message_id", "post__sequence").order_by("pk")
    )


def test_a_group_archived_together_threads_as_one_by_one(mlist, twin):
    archive_message(mlist, message(5))
    archive_message(twin, message(5))
    together = posted(mlist, threaded_traffic())
    apart = posted(twin, threaded_traffic())
    for start in range(0, len(together), 16):
        archive_stored_posts([post.pk for post in together[start : start + 16]])
    for post in apart:
        archive_stored_post(post.pk)
    assert snapshot(mlist) == snapshot(twin)
    assert linked(mlist) == linked(twin)
    assert ArchivedMessage.objects.filter(post__in=together).count() == len(together)


def test_a_group_of_ten_posts_takes_fewer_than_forty_queries(mlist):
    posts = posted(mlist, [message(number, parents=[number - 1] if number > 1 else []) for number in range(1, 11)])
    with CaptureQueriesContext(connection) as queries:
        archive_stored_posts([post.pk for post in posts])
    assert len(queries) < 40
    assert ArchivedMessage.objects.get(message_id="m1@x").thread.message_count == 10


def test_an_archived_post_is_not_archived_again(mlist):
    [post] = posted(mlist, [message(1)])
    first = archive_stored_post(post.pk)
    ArchiveNudge.objects.create(post=post, nudged_at=timezone.now())
    archive_stored_posts([post.pk])
    assert list(ArchivedMessage.objects.values_list("pk", flat=True)) == [first.pk]
    assert not ArchiveNudge.objects.exists()


def test_the_group_posts_nudges_are_deleted(mlist):
    posts = posted(mlist, [message(1), message(2)])
    for post in posts:
        ArchiveNudge.objects.create(post=post, nudged_at=timezone.now())
    archive_stored_posts([post.pk for post in posts])
    assert not ArchiveNudge.objects.exists()


def test_a_withdrawn_post_is_not_archived(mlist):
    withdrawn, kept = posted(mlist, [message(1), message(2)])
    WithdrawnPost.objects.create(post=withdrawn)
    archive_stored_posts([withdrawn.pk, kept.pk])
    assert list(ArchivedMessage.objects.values_list("post", flat=True)) == [kept.pk]


def test_a_list_that_is_not_archived_archives_none_of_its_group(mlist, twin):
    twin.archive_policy = ArchivePolicy.NEVER
    twin.save()
    [archived] = posted(mlist, [message(1)])
    [not_archived] = posted(twin, [message(2)])
    archive_stored_posts([archived.pk, not_archived.pk])
    assert list(ArchivedMessage.objects.values_list("post", flat=True)) == [archived.pk]


def test_a_gone_post_is_skipped(mlist):
    gone, kept = posted(mlist, [message(1), message(2)])
    gone.delete()
    archive_stored_posts([gone.pk, kept.pk])
    assert list(ArchivedMessage.objects.values_list("post", flat=True)) == [kept.pk]


def test_an_imported_message_is_linked_to_its_post_in_a_group(mlist):
    imported = archive_message(mlist, message(2)).message
    posts = posted(mlist, [message(1), message(2), message(3)])
    archive_stored_posts([post.pk for post in posts])
    assert ArchivedMessage.objects.get(post=posts[1]).pk == imported.pk
    assert ArchivedMessage.objects.count() == 3


def test_a_message_id_archived_for_another_post_is_kept_under_a_derived_one(mlist):
    [earlier] = posted(mlist, [message(1)])
    archive_stored_post(earlier.pk)
    again, twice, fresh = posted(mlist, [message(1) + b"P.S.\n", message(2), message(2) + b"P.S.\n"])
    archive_stored_posts([again.pk, twice.pk, fresh.pk])
    assert ArchivedMessage.objects.get(post=earlier).message_id == "m1@x"
    assert ArchivedMessage.objects.get(post=again).message_id.endswith("@archive.invalid")
    assert ArchivedMessage.objects.get(post=twice).message_id == "m2@x"
    assert ArchivedMessage.objects.get(post=fresh).message_id.endswith("@archive.invalid")


def test_a_group_that_fails_together_is_archived_one_by_one(mlist, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(archive.bulk_import, "archive_read_messages", fail)
    posts = posted(mlist, [message(1), message(2, parents=[1])])
    archive_stored_posts([post.pk for post in posts])
    assert ArchivedMessage.objects.get(post=posts[1]).parent.post == posts[0]


def test_one_bad_post_does_not_stop_the_others(mlist, monkeypatch):
    archive_one = archive.services.archive_message

    def fail_on_second(mlist, raw, **kwargs):
        if b"<m2@x>" in raw:
            raise RuntimeError("bad post")
        return archive_one(mlist, raw, **kwargs)

    monkeypatch.setattr(archive.bulk_import, "archive_read_messages", lambda *args: 1 / 0)
    monkeypatch.setattr(archive.services, "archive_message", fail_on_second)
    posts = posted(mlist, [message(1), message(2), message(3)])
    for post in posts:
        ArchiveNudge.objects.create(post=post, nudged_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(RuntimeError, match="bad post"):
        archive_stored_posts([post.pk for post in posts])
    assert sorted(ArchivedMessage.objects.values_list("message_id", flat=True)) == ["m1@x", "m3@x"]
    assert list(ArchiveNudge.objects.values_list("post", flat=True)) == [posts[1].pk]
