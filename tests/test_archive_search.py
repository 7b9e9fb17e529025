"""Searching the archives (archive.search): ranking, filters, phrases,
senders, dates, who sees which lists, and the index kept in step with the
archive by the actors (each test has an index of its own: tests/conftest.py)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker
from haystack import connections

from archive.models import ArchivedMessage
from archive.search import MAX_PAGE, PAGE_SIZE, SearchError, UnreadableArchive, search
from archive.search_indexing import index_messages
from archive.services import archive_message, archive_stored_post, archive_stored_posts
from archive.tasks import archive_post, index_archived, unindex_archived
from lists.models import ArchivePolicy
from lists.services import create_list
from members.models import Role
from members.services import subscribe
from messages.sweeper import sweep
from tests.archive_mail import archived
from tests.conftest import make_user
from tests.inbound_mail import compose, deliver

pytest_plugins = ["tests.mail_fixtures"]

anonymous = AnonymousUser()


def mail(
    number: int,
    subject: str,
    body: str,
    *,
    sender: str = "Ada Lovelace <ada@example.org>",
    day: date = date(2024, 3, 1),
) -> bytes:
    return (
        f"From: {sender}\nSubject: {subject}\nMessage-ID: <s{number}@example.org>\n"
        f"Date: {day.strftime('%d %b %Y')} 10:00:00 +0000\n\n{body}\n"
    ).encode()


def subjects(page) -> list[str]:
    return [hit.subject for hit in page.hits]


@pytest.fixture
def private_list(domain):
    return create_list("queen@example.com", archive_policy=ArchivePolicy.PRIVATE)


@pytest.fixture
def index_queue(monkeypatch) -> StubBroker:
    stub = StubBroker()
    stub.declare_queue("archive")
    for actor in ACTORS.values():
        monkeypatch.setattr(actor, "broker", stub)
    return stub


ACTORS = {actor.actor_name: actor for actor in (archive_post, index_archived, unindex_archived)}


def run_queue(stub: StubBroker) -> list[str]:
    """Run the queued index messages as a worker would; their actor names."""
    names = []
    while not stub.queues["archive"].empty():
        message = Message.decode(stub.queues["archive"].get())
        ACTORS[message.actor_name](*message.args)
        names.append(message.actor_name)
    return names


def test_a_word_finds_the_messages_that_hold_it(mlist):
    archived(mlist, mail(1, "Leafcutters", "They farm fungus."), mail(2, "Weavers", "They sew leaves."))
    assert subjects(search(anonymous, "fungus")) == ["Leafcutters"]


def test_words_match_their_other_forms(mlist):
    archived(mlist, mail(1, "Foraging", "The workers were foraging all day."))
    assert subjects(search(anonymous, "forage")) == ["Foraging"]


def test_every_word_must_match(mlist):
    archived(mlist, mail(1, "One", "red ants"), mail(2, "Two", "red wasps"))
    assert subjects(search(anonymous, "red wasps")) == ["Two"]


def test_more_relevant_messages_rank_first(mlist):
    archived(
        mlist,
        mail(1, "Other news", "In passing: a queen was seen, among many other things of the colony and garden."),
        mail(2, "Queen", "The queen, the queen: the queen lays every egg."),
    )
    assert subjects(search(anonymous, "queen")) == ["Queen", "Other news"]


def test_a_phrase_matches_only_its_words_in_order(mlist):
    archived(mlist, mail(1, "Right", "the fire ant colony"), mail(2, "Wrong", "an ant fire drill"))
    assert subjects(search(anonymous, '"fire ant"')) == ["Right"]


def test_an_unclosed_phrase_runs_to_the_end(mlist):
    archived(mlist, mail(1, "Right", "the fire ant colony"), mail(2, "Wrong", "an ant fire drill"))
    assert subjects(search(anonymous, '"fire ant')) == ["Right"]


def test_quoted_lines_are_not_searched(mlist):
    archived(mlist, mail(1, "Original", "Honeydew is sweet."), mail(2, "Re: Original", "> Honeydew is sweet.\nAgreed."))
    assert subjects(search(anonymous, "honeydew")) == ["Original"]


def test_from_matches_name_or_address(mlist):
    archived(
        mlist,
        mail(1, "By Ada", "colony", sender="Ada Lovelace <ada@example.org>"),
        mail(2, "By Bob", "colony", sender="Bob <bob@example.net>"),
    )
    assert subjects(search(anonymous, "colony from:lovelace")) == ["By Ada"]
    assert subjects(search(anonymous, "from:bob@example.net")) == ["By Bob"]
    assert subjects(search(anonymous, "colony", sender="ada@example.org")) == ["By Ada"]


def test_subject_matches_the_subject_only(mlist):
    archived(mlist, mail(1, "Aphids", "milk"), mail(2, "Milk", "aphids"))
    assert subjects(search(anonymous, "subject:aphids")) == ["Aphids"]


def test_dates_bound_the_search(mlist):
    archived(
        mlist,
        mail(1, "Early", "swarm", day=date(2023, 5, 1)),
        mail(2, "Middle", "swarm", day=date(2024, 1, 15)),
        mail(3, "Late", "swarm", day=date(2024, 6, 1)),
    )
    assert subjects(search(anonymous, "swarm after:2024-01-01 before:2024-02-01")) == ["Middle"]
    assert sorted(subjects(search(anonymous, "swarm", after=date(2024, 1, 15)))) == ["Late", "Middle"]
    assert subjects(search(anonymous, "swarm", before=date(2024, 1, 15))) == ["Early"]


def test_a_list_search_stays_in_its_list(mlist, domain):
    other = create_list("bee@example.com")
    archived(mlist, mail(1, "Ants", "nest"))
    archived(other, mail(2, "Bees", "nest"))
    assert subjects(search(anonymous, "nest", mlist=mlist)) == ["Ants"]
    assert sorted(subjects(search(anonymous, "nest"))) == ["Ants", "Bees"]


def test_private_archives_are_searched_only_by_their_readers(mlist, private_list, member, site_admin, stranger):
    archived(mlist, mail(1, "Public", "royal jelly"))
    archived(private_list, mail(2, "Private", "royal jelly"))
    queen_member = make_user("worker@example.org")
    subscribe(private_list, queen_member.email)
    nonmember = make_user("poster@example.org")
    subscribe(private_list, nonmember.email, role=Role.NONMEMBER)
    assert subjects(search(anonymous, "royal")) == ["Public"]
    assert subjects(search(stranger, "royal")) == ["Public"]
    assert subjects(search(nonmember, "royal")) == ["Public"]
    assert sorted(subjects(search(queen_member, "royal"))) == ["Private", "Public"]
    assert sorted(subjects(search(site_admin, "royal"))) == ["Private", "Public"]
    with pytest.raises(UnreadableArchive):
        search(stranger, "royal", mlist=private_list)
    assert subjects(search(queen_member, "royal", mlist=private_list)) == ["Private"]


def test_anonymous_readers_see_addresses_obfuscated(mlist, member):
    archived(mlist, mail(1, "Contact", "write to ada@example.org about pheromones"))
    hit = search(anonymous, "pheromones").hits[0]
    assert hit.sender == "ada at example.org"
    assert "ada@example.org" not in hit.snippet
    signed_in = search(member, "pheromones").hits[0]
    assert signed_in.sender == "ada@example.org"
    assert "ada@example.org" in signed_in.snippet


def test_hits_carry_thread_permalink_and_marked_escaped_snippet(mlist):
    [message] = archived(mlist, mail(1, "Markup", "<script>alert(1)</script> soldiers defend the nest"))
    hit = search(anonymous, "soldier").hits[0]
    assert hit.url == f"/lists/ant.example.com/archive/message/{message.message_id_hash}/"
    assert hit.thread_id == message.thread_id
    assert "<mark>soldiers</mark>" in hit.snippet
    assert "<script>" not in hit.snippet and "&lt;script&gt;" in hit.snippet


def test_pages_say_whether_more_follow(mlist):
    archived(mlist, *(mail(n, f"Message {n}", "trail pheromone") for n in range(PAGE_SIZE + 3)))
    first = search(anonymous, "trail")
    second = search(anonymous, "trail", page=2)
    assert (len(first.hits), first.has_next) == (PAGE_SIZE, True)
    assert (len(second.hits), second.has_next) == (3, False)
    assert not set(subjects(first)) & set(subjects(second))


@pytest.mark.parametrize("q", ["", "   ", "!!! ???", '""', "after:2024-01-01"])
def test_a_query_without_words_is_refused(mlist, q):
    with pytest.raises(SearchError, match="Enter words"):
        search(anonymous, q)


@pytest.mark.parametrize("q", ["ants after:2024-13-01", "ants before:yesterday", "ants after:0001-01-01"])
def test_a_bad_date_is_refused(mlist, q):
    with pytest.raises(SearchError, match="YYYY-MM-DD"):
        search(anonymous, q)


@pytest.mark.parametrize("page", [0, -1, MAX_PAGE + 1])
def test_a_page_out_of_range_is_refused(mlist, page):
    with pytest.raises(SearchError, match="page"):
        search(anonymous, "ants", page=page)


@pytest.mark.parametrize(
    "q",
    ["AND OR NOT", "a* b? c~2 ^3", "[a TO b]", "(((", "x:y:z", "content:foo", "django_ct:*", "é∂ƒ 漢字 🐜", "\x00ants"],
)
def test_query_syntax_of_the_engine_is_just_text(mlist, q):
    archived(mlist, mail(1, "Ants", "ants 漢字 🐜"))
    try:
        search(anonymous, q)
    except SearchError as exc:
        assert "Enter words" in str(exc)


def test_the_actor_indexes_a_post_once_it_is_archived(mlist, member, index_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post = deliver(mlist, compose(subject="Nuptial flight", body="Winged queens leave.\n")).post
    with django_capture_on_commit_callbacks(execute=True):
        assert run_queue(index_queue) == [archive_post.actor_name]
    assert search(anonymous, "nuptial").hits == []
    assert run_queue(index_queue) == [index_archived.actor_name]
    assert subjects(search(anonymous, "nuptial")) == ["[ant] Nuptial flight"]
    assert ArchivedMessage.objects.get(post=post).indexed


def test_a_groups_posts_go_to_the_index_in_one_message(mlist, member, index_queue, django_capture_on_commit_callbacks):
    posts = [deliver(mlist, compose(subject=f"Swarm {n}", body="Bees swarm.\n")).post for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        archive_stored_posts([post.pk for post in posts] + [posts[-1].pk + 1000])
    queued = [Message.decode(data) for data in list(index_queue.queues["archive"].queue)]
    archived_ids = sorted(ArchivedMessage.objects.filter(post__in=posts).values_list("pk", flat=True))
    assert [(message.actor_name, sorted(message.args[0])) for message in queued] == [
        (index_archived.actor_name, archived_ids)
    ]
    run_queue(index_queue)
    assert len(search(anonymous, "swarm").hits) == 3


def test_archiving_a_post_twice_does_not_index_it_again(mlist, member, index_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post = deliver(mlist, compose(subject="Twice", body="Twice.\n")).post
    run_queue(index_queue)
    with django_capture_on_commit_callbacks(execute=True):
        archive_stored_post(post.pk)
    run_queue(index_queue)
    with django_capture_on_commit_callbacks(execute=True):
        archive_stored_post(post.pk)
    assert run_queue(index_queue) == []


def test_indexing_twice_indexes_once(mlist):
    [message] = archived(mlist, mail(1, "Once", "mandibles"))
    index_messages([message.pk])
    assert len(search(anonymous, "mandibles").hits) == 1
    assert connections["default"].get_backend().document_count() == 1


def test_a_deleted_message_leaves_the_index(mlist, index_queue, django_capture_on_commit_callbacks):
    [_kept, gone] = archived(mlist, mail(1, "Kept", "antennae"), mail(2, "Gone", "antennae"))
    with django_capture_on_commit_callbacks(execute=True):
        ArchivedMessage.objects.filter(pk=gone.pk).delete()
    assert run_queue(index_queue) == [unindex_archived.actor_name]
    assert subjects(search(anonymous, "antennae")) == ["Kept"]
    assert connections["default"].get_backend().document_count() == 1


def test_a_message_deleted_before_its_indexing_is_not_indexed(mlist):
    [message] = [archive_message(mlist, mail(1, "Fleeting", "ephemeral")).message]
    pk = message.pk
    message.delete()
    index_messages([pk])
    assert search(anonymous, "ephemeral").hits == []


def test_the_sweeper_resends_messages_left_unindexed(mlist, index_queue, settings):
    settings.SWEEP_GRACE_SECONDS = 60
    lost = archive_message(mlist, mail(1, "Lost", "nudge")).message
    ArchivedMessage.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    fresh = archive_message(mlist, mail(2, "Fresh", "nudge")).message
    assert sweep().index == 1
    assert run_queue(index_queue) == [index_archived.actor_name]
    assert subjects(search(anonymous, "nudge")) == ["Lost"]
    assert sweep().index == 0
    fresh.refresh_from_db()
    assert not fresh.indexed


def test_rebuild_index_indexes_the_whole_archive(mlist):
    from django.core.management import call_command

    archive_message(mlist, mail(1, "Rebuilt", "larvae"))
    call_command("rebuild_index", interactive=False, verbosity=0)
    assert subjects(search(anonymous, "larvae")) == ["Rebuilt"]
    call_command("update_index", verbosity=0)
    assert connections["default"].get_backend().document_count() == 1


def test_the_message_date_is_indexed_in_utc(mlist):
    raw = mail(1, "Midnight", "nocturnal").replace(b"10:00:00 +0000", b"23:30:00 -0500")
    archived(mlist, raw)
    # 23:30 at UTC-5 on March 1st is 04:30 UTC on March 2nd.
    assert subjects(search(anonymous, "nocturnal after:2024-03-02")) == ["Midnight"]
    assert datetime(2024, 3, 2, 4, 30, tzinfo=UTC) == ArchivedMessage.objects.get().date


@pytest.fixture
def whoosh_index(settings, tmp_path):
    """The Whoosh engine (SEARCH_URL whoosh://) in place of the default."""
    from mailman_site.settings import haystack_from_url

    settings.HAYSTACK_CONNECTIONS = {"default": haystack_from_url(f"whoosh://{tmp_path / 'whoosh'}")}
    connections.connections_info = settings.HAYSTACK_CONNECTIONS
    connections.reload("default")


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("fungus", ["Leafcutters"]),
        ("forage", ["Leafcutters"]),
        ('"fire ant"', ["Weavers"]),
        ("subject:weavers", ["Weavers"]),
        ("from:bob@example.net", ["Weavers"]),
        ("colony from:lovelace", ["Leafcutters"]),
        ("colony after:2024-03-02", ["Weavers"]),
    ],
)
def test_whoosh_remains_a_working_engine(whoosh_index, mlist, q, expected):
    archived(
        mlist,
        mail(1, "Leafcutters", "The colony farms fungus, foraging all day."),
        mail(2, "Weavers", "The fire ant colony sews.", sender="Bob <bob@example.net>", day=date(2024, 3, 5)),
    )
    assert type(connections["default"].get_backend()).__name__ == "ArchiveWhooshBackend"
    assert subjects(search(anonymous, q)) == expected
