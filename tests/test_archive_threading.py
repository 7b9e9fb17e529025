"""archive.threading: messages joined into threads by Message-ID, In-Reply-To
and References, whatever order they arrive in and whatever their headers hold."""

from datetime import UTC, datetime, timedelta

from archive.models import ArchivedMessage, ListArchive, Thread
from archive.reading import reference_chain
from archive.services import archive_message
from messages.pipeline.mime import message_bytes, parse_message
from tests.inbound_mail import CORPUS, corpus_message

START = datetime(2024, 1, 1, tzinfo=UTC)


def message(
    message_id: str | None,
    *,
    in_reply_to: str = "",
    references: str = "",
    minute: int = 0,
    sender: str = "ant@example.org",
    subject: str = "Ants",
) -> bytes:
    """A plain message; its Date is `minute` minutes after START."""
    date = (START + timedelta(minutes=minute)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    lines = [f"From: Ant <{sender}>", "To: ant@example.com", f"Subject: {subject}", f"Date: {date}"]
    if message_id is not None:
        lines.append(f"Message-ID: <{message_id}>")
    if in_reply_to:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        lines.append("References: " + " ".join(f"<{ref}>" for ref in references.split()))
    return ("\r\n".join(lines) + "\r\n\r\nHello from " + str(message_id) + ".\r\n").encode()


def archived(mlist, message_id: str) -> ArchivedMessage:
    return ArchivedMessage.objects.get(mailing_list=mlist, message_id=message_id)


def parent_id_of(mlist, message_id: str) -> str | None:
    parent = archived(mlist, message_id).parent
    return parent.message_id if parent else None


def depth(message: ArchivedMessage) -> int:
    parents = dict(ArchivedMessage.objects.filter(thread=message.thread).values_list("pk", "parent_id"))
    steps, current = 0, parents[message.pk]
    while current is not None:
        steps, current = steps + 1, parents[current]
    return steps


def test_replies_join_their_parents_thread(mlist):
    archive_message(mlist, message("a@x", sender="ant@example.org"))
    archive_message(mlist, message("b@x", in_reply_to="a@x", references="a@x", minute=5, sender="bee@example.org"))
    archive_message(mlist, message("c@x", references="a@x b@x", minute=9, sender="ant@example.org"))
    thread = Thread.objects.get()
    assert (thread.message_count, thread.participant_count) == (3, 2)
    assert thread.root.message_id == "a@x"
    assert (thread.started_at, thread.last_activity) == (START, START + timedelta(minutes=9))
    assert parent_id_of(mlist, "b@x") == "a@x"
    assert parent_id_of(mlist, "c@x") == "b@x"


def test_replies_arriving_before_their_parents_are_adopted(mlist):
    archive_message(mlist, message("c@x", references="a@x b@x", minute=9))
    archive_message(mlist, message("b@x", references="a@x", minute=5))
    assert Thread.objects.count() == 1
    assert parent_id_of(mlist, "c@x") == "b@x"
    archive_message(mlist, message("a@x"))
    thread = Thread.objects.get()
    assert thread.root.message_id == "a@x"
    assert thread.message_count == 3
    assert thread.started_at == START
    assert parent_id_of(mlist, "b@x") == "a@x"
    assert parent_id_of(mlist, "c@x") == "b@x"


def test_a_late_parent_merges_the_threads_it_connects(mlist):
    archive_message(mlist, message("b@x", in_reply_to="a@x", minute=1, sender="bee@example.org"))
    archive_message(mlist, message("d@x", in_reply_to="c@x", minute=3, sender="dog@example.org"))
    assert ListArchive.objects.get(mailing_list=mlist).thread_count == 2
    archive_message(mlist, message("c@x", in_reply_to="b@x", minute=2, sender="cat@example.org"))
    thread = Thread.objects.get()
    assert (thread.message_count, thread.participant_count) == (3, 3)
    assert thread.root.message_id == "b@x"
    assert parent_id_of(mlist, "d@x") == "c@x"
    counts = ListArchive.objects.get(mailing_list=mlist)
    assert (counts.message_count, counts.thread_count) == (3, 1)


def test_replies_to_a_message_never_archived_share_a_thread(mlist):
    archive_message(mlist, message("b@x", in_reply_to="lost@x", minute=2))
    archive_message(mlist, message("c@x", references="lost@x", minute=1))
    thread = Thread.objects.get()
    assert thread.message_count == 2
    assert thread.root.message_id == "c@x"
    assert parent_id_of(mlist, "b@x") is None


def test_a_nearer_ancestor_arriving_later_takes_the_reply_over(mlist):
    archive_message(mlist, message("a@x"))
    archive_message(mlist, message("c@x", references="a@x b@x", minute=2))
    assert parent_id_of(mlist, "c@x") == "a@x"
    archive_message(mlist, message("b@x", references="a@x", minute=1))
    assert parent_id_of(mlist, "c@x") == "b@x"
    assert parent_id_of(mlist, "b@x") == "a@x"


def test_a_farther_ancestor_arriving_later_leaves_the_parent_alone(mlist):
    archive_message(mlist, message("b@x", minute=1))
    archive_message(mlist, message("c@x", references="a@x b@x", minute=2))
    archive_message(mlist, message("a@x"))
    assert parent_id_of(mlist, "c@x") == "b@x"
    assert Thread.objects.get().message_count == 3


def test_a_loop_in_references_makes_no_cycle(mlist):
    archive_message(mlist, message("a@x", references="b@x"))
    archive_message(mlist, message("b@x", references="a@x", minute=1))
    archive_message(mlist, message("c@x", references="a@x b@x a@x c@x", minute=2))
    thread = Thread.objects.get()
    assert thread.message_count == 3
    assert thread.root is not None and thread.root.parent is None
    for message_id in ("a@x", "b@x", "c@x"):
        depth(archived(mlist, message_id))  # ends: no message is its own ancestor


def test_a_message_referring_to_itself_has_no_parent(mlist):
    archive_message(mlist, message("a@x", in_reply_to="a@x", references="a@x"))
    assert parent_id_of(mlist, "a@x") is None


def test_reference_chain_keeps_each_id_once_at_its_nearest_place_and_in_reply_to_last():
    assert reference_chain("<b@x>", "<a@x> <b@x> <c@x> <a@x> <self@x>", "self@x") == ["c@x", "a@x", "b@x"]
    assert reference_chain("junk (no id)", "<a@x> broken <b@x", "self@x") == ["a@x"]
    assert reference_chain("", "", "self@x") == []


def test_missing_and_broken_threading_headers_start_threads(mlist):
    archive_message(mlist, message("a@x", in_reply_to="", references=""))
    raw = b"From: bee@example.org\r\nSubject: Re: Ants\r\nIn-Reply-To: not an id\r\nReferences: <<>>\r\n\r\nHi.\r\n"
    archive_message(mlist, raw)
    assert Thread.objects.count() == 2


def test_the_same_message_twice_is_archived_once(mlist):
    first = archive_message(mlist, message("a@x"))
    again = archive_message(mlist, message("a@x"))
    assert first.created and not again.created
    assert again.message.pk == first.message.pk
    assert Thread.objects.get().message_count == 1


def test_a_chain_3000_deep_is_threaded(mlist):
    archive_message(mlist, message("m0@x"))
    for number in range(1, 3000):
        archive_message(
            mlist, message(f"m{number}@x", in_reply_to=f"m{number - 1}@x", references=f"m0@x m{number - 1}@x")
        )
    last = archived(mlist, "m2999@x")
    assert depth(last) == 2999
    assert last.thread.message_count == 3000
    assert last.thread.root.message_id == "m0@x"


def test_a_chain_1000_deep_arriving_backwards_is_threaded(mlist):
    for number in reversed(range(1000)):
        in_reply_to = f"m{number - 1}@x" if number else ""
        archive_message(mlist, message(f"m{number}@x", in_reply_to=in_reply_to, minute=number))
    last = archived(mlist, "m999@x")
    assert depth(last) == 999
    assert Thread.objects.get().root.message_id == "m0@x"


def with_reply_headers(name: str, in_reply_to: str) -> bytes:
    msg = parse_message(corpus_message(name))
    del msg["In-Reply-To"]
    msg["In-Reply-To"] = f"<{in_reply_to}>"
    return message_bytes(msg)


def test_real_messages_thread_on_their_headers(mlist):
    archive_message(mlist, corpus_message("msg_01.txt"))
    archive_message(mlist, with_reply_headers("msg_05.txt", "15090.61304.110929.45684@aaa.zzz.org"))
    archive_message(mlist, with_reply_headers("msg_26.txt", "20010803162810.0CA8AA7ACC@mail.example.com"))
    thread = Thread.objects.get()
    assert thread.message_count == 3
    assert thread.root.subject == "This is a test message"
    assert (
        parent_id_of(mlist, "6df65d354b.father.time@rpc.wooster.local") == "20010803162810.0CA8AA7ACC@mail.example.com"
    )


def test_every_corpus_message_is_archived_once_by_its_message_id(mlist):
    files = sorted(CORPUS.iterdir())
    for path in files:
        archive_message(mlist, path.read_bytes())
    ids = {parse_message(path.read_bytes())["Message-ID"] for path in files} - {None}
    without_id = [path for path in files if parse_message(path.read_bytes())["Message-ID"] is None]
    assert ArchivedMessage.objects.count() == len(ids) + len(without_id)
    assert ListArchive.objects.get(mailing_list=mlist).thread_count == Thread.objects.count()
