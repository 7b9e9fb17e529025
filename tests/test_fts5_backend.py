"""The SQLite FTS5 search engine (archive.fts5_backend), through haystack's
own API: any term is text, never FTS5 syntax; documents are replaced,
removed and cleared; subject hits rank first; what it cannot translate is
refused plainly. (Each test has an index file of its own: tests/conftest.py.)"""

from datetime import date

import pytest
from django.core.management import call_command
from haystack import connections
from haystack.inputs import Exact, Raw
from haystack.query import SQ, SearchQuerySet

from archive.fts5_backend import Fts5SearchBackend, UnsupportedQuery
from archive.models import ArchivedMessage
from archive.search_indexing import index_messages, search_index
from tests.archive_mail import archived

HOSTILE = [
    '"',
    'say "hi"',
    '""""',
    "NEAR",
    "NEAR(a b)",
    "a* *",
    "^start",
    "subject:ants",
    "{subject}: ants",
    "- ants",
    "AND",
    "OR",
    "NOT",
    "ants AND OR NOT",
    "(((",
    "a + b",
    "é∂ƒ 漢字 🐜",
    "\x00",
    "",
    " ",
]


def mail(number: int, subject: str, body: str, sender: str = "Ada Lovelace <ada@example.org>") -> bytes:
    return (
        f"From: {sender}\nSubject: {subject}\nMessage-ID: <f{number}@example.org>\n"
        f"Date: 01 Mar 2024 10:00:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    ).encode()


def found(sqs: SearchQuerySet) -> list[str]:
    """The subjects of the hits, best first."""
    by_pk = {str(message.pk): message.subject for message in ArchivedMessage.objects.all()}
    return [by_pk[result.pk] for result in sqs[:10]]


def backend() -> Fts5SearchBackend:
    return connections["default"].get_backend()


def test_the_default_engine_is_fts5_in_a_file_of_its_own(mlist, tmp_path):
    archived(mlist, mail(1, "Ants", "formic"))
    assert isinstance(backend(), Fts5SearchBackend)
    assert (tmp_path / "search.sqlite3").exists()
    assert backend().size_on_disk() > 0


@pytest.mark.parametrize("term", HOSTILE)
def test_any_term_is_searched_as_text(mlist, term):
    archived(mlist, mail(1, "Ants", "ants near the nest, 漢字 🐜"))
    for sqs in (
        SearchQuerySet().filter(content=term),
        SearchQuerySet().filter(content=Exact(term)),
        SearchQuerySet().filter(subject=Exact(term)),
        SearchQuerySet().filter(sender=term),
    ):
        assert found(sqs) in ([], ["Ants"])


def test_operator_words_are_words(mlist):
    archived(mlist, mail(1, "Near", "NEAR the nest OR under it"), mail(2, "Far", "far from the nest"))
    assert found(SearchQuerySet().filter(content="NEAR")) == ["Near"]
    assert found(SearchQuerySet().filter(content="OR")) == ["Near"]
    assert sorted(found(SearchQuerySet().filter(content='nest"'))) == ["Far", "Near"]


def test_a_column_filter_in_a_term_is_not_one(mlist):
    archived(mlist, mail(1, "Aphids", "milk"), mail(2, "Subject aphids", "nothing"))
    assert found(SearchQuerySet().filter(content="subject:aphids")) == ["Subject aphids"]


def test_diacritics_and_case_are_folded(mlist):
    archived(mlist, mail(1, "Dessert", "Crème brûlée, 漢字"))
    assert found(SearchQuerySet().filter(content="creme").filter(content="BRULEE")) == ["Dessert"]
    assert found(SearchQuerySet().filter(content="漢字")) == ["Dessert"]


def test_a_term_without_letters_matches_nothing(mlist):
    archived(mlist, mail(1, "Ants", "ants"))
    assert found(SearchQuerySet().filter(content="ants").filter(content="@@")) == []


def test_a_phrase_is_its_words_in_order(mlist):
    archived(mlist, mail(1, "Right", "the fire ant colony"), mail(2, "Wrong", "an ant fire drill"))
    assert found(SearchQuerySet().filter(content=Exact("fire ant"))) == ["Right"]


def test_plain_fields_filter_exactly(mlist):
    [ada, _bob] = archived(
        mlist, mail(1, "By Ada", "colony"), mail(2, "By Bob", "colony", sender="Bob <Bob@Example.net>")
    )
    colony = SearchQuerySet().filter(content="colony")
    assert found(colony.filter(sender_address=Exact("bob@example.net"))) == ["By Bob"]
    assert found(colony.filter(sender_address=Exact("ob@example.net"))) == []
    assert found(colony.filter(mailing_list__in=[mlist.pk + 1])) == []
    day = date(2024, 3, 1).toordinal()
    assert len(found(colony.filter(day__range=[day, day]))) == 2
    assert found(colony.filter(day__gt=day)) == []
    assert found(colony.filter(thread=ada.thread_id)) == ["By Ada"]
    assert found(SearchQuerySet().filter(sender_address=Exact("bob@example.net"))) == ["By Bob"]


def test_a_subject_hit_ranks_above_a_body_hit(mlist):
    archived(
        mlist,
        mail(1, "News", "Pheromones today: pheromones again, with other things of the colony and the garden."),
        mail(2, "Pheromones", "Something said about the trails of the colony and the garden, at some length."),
    )
    assert found(SearchQuerySet().filter(content="pheromones")) == ["Pheromones", "News"]


def test_indexing_again_replaces_the_document(mlist):
    [message] = archived(mlist, mail(1, "Old", "before"))
    ArchivedMessage.objects.filter(pk=message.pk).update(subject="New", body="after")
    index_messages([message.pk])
    assert found(SearchQuerySet().filter(content="before")) == []
    assert found(SearchQuerySet().filter(content="after")) == ["New"]
    assert backend().document_count() == 1


def test_remove_takes_an_object_or_an_identifier(mlist):
    [first, second, _third] = archived(mlist, mail(1, "One", "ant"), mail(2, "Two", "ant"), mail(3, "Three", "ant"))
    backend().remove(first)
    backend().remove(f"archive.archivedmessage.{second.pk}")
    assert found(SearchQuerySet().filter(content="ant")) == ["Three"]


def test_clear_empties_the_index_or_a_models_part(mlist):
    archived(mlist, mail(1, "One", "ant"))
    backend().clear(models=[ArchivedMessage])
    assert backend().document_count() == 0
    archived(mlist, mail(2, "Two", "ant"))
    call_command("clear_index", interactive=False, verbosity=0)
    assert found(SearchQuerySet().filter(content="ant")) == []
    backend().update(search_index(), ArchivedMessage.objects.all())
    assert sorted(found(SearchQuerySet().filter(content="ant"))) == ["One", "Two"]


def test_hits_count_only_up_to_the_page(mlist):
    archived(mlist, *(mail(number, f"Ant {number}", "ant") for number in range(5)))
    results = SearchQuerySet().filter(content="ant")
    assert len(results[:2]) == 2
    assert backend().search(results.query.build_query(), end_offset=3)["hits"] == 3


@pytest.mark.parametrize(
    "sqs",
    [
        lambda: SearchQuerySet().filter(SQ(content="a") | SQ(content="b")),
        lambda: SearchQuerySet().exclude(content="a"),
        lambda: SearchQuerySet().filter(content=Raw("a OR b")),
        lambda: SearchQuerySet().filter(content__startswith="a"),
        lambda: SearchQuerySet().filter(nonesuch="a"),
        lambda: SearchQuerySet().raw_search("a OR b"),
    ],
)
def test_what_cannot_be_translated_is_refused(mlist, sqs):
    with pytest.raises(UnsupportedQuery):
        list(sqs()[:1])
