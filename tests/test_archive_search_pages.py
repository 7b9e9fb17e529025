"""The search pages: /search/ over every readable archive and
/lists/<list_id>/archive/search/ over one."""

import pytest
from django.test import Client

from archive.search_indexing import index_messages
from archive.services import archive_message
from lists.models import ArchivePolicy
from lists.services import create_list
from tests.conftest import logged_in


def mail(number: int, subject: str, body: str) -> bytes:
    return (
        f"From: Ada <ada@example.org>\nSubject: {subject}\nMessage-ID: <page{number}@example.org>\n"
        f"Date: Fri, 01 Mar 2024 10:00:00 +0000\n\n{body}\n"
    ).encode()


@pytest.fixture
def private_list(domain):
    return create_list("queen@example.com", archive_policy=ArchivePolicy.PRIVATE)


@pytest.fixture
def archives(mlist, private_list):
    messages = [
        archive_message(mlist, mail(1, "Leafcutter <farms>", "fungus gardens")).message,
        archive_message(private_list, mail(2, "Royal secret", "fungus in the royal chamber")).message,
    ]
    index_messages([message.pk for message in messages])
    return messages


def test_the_site_search_page_lists_hits_with_links(archives):
    response = Client().get("/search/", {"q": "fungus"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="/lists/ant.example.com/archive/message/{archives[0].message_id_hash}/"' in html
    assert "Leafcutter &lt;farms&gt;" in html
    assert "<mark>fungus</mark>" in html
    assert "Royal secret" not in html


def test_the_search_page_without_a_query_shows_the_form(db):
    response = Client().get("/search/")
    assert response.status_code == 200
    assert 'name="q"' in response.content.decode()


def test_a_bad_query_is_a_400_page_saying_why(archives):
    response = Client().get("/search/", {"q": "fungus before:someday"})
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.content.decode()


@pytest.mark.parametrize("page", ["0", "x", "99999", "-1", "\u0661"])
def test_a_bad_page_number_is_a_400_page(archives, page):
    response = Client().get("/search/", {"q": "fungus", "page": page})
    assert response.status_code == 400


def test_the_list_search_page_searches_that_list(archives, mlist):
    response = Client().get("/lists/ant.example.com/archive/search/", {"q": "fungus"})
    assert response.status_code == 200
    assert "Leafcutter" in response.content.decode()


def test_a_private_archive_search_page_needs_a_reader(archives, private_list, stranger, site_admin):
    anonymous = Client().get("/lists/queen.example.com/archive/search/", {"q": "fungus"})
    assert anonymous.status_code in (302, 404)
    assert logged_in(stranger).get("/lists/queen.example.com/archive/search/", {"q": "fungus"}).status_code in (
        403,
        404,
    )
    response = logged_in(site_admin).get("/lists/queen.example.com/archive/search/", {"q": "fungus"})
    assert response.status_code == 200
    assert "Royal secret" in response.content.decode()


def test_an_unknown_list_search_page_is_404(db):
    assert Client().get("/lists/nosuch.example.com/archive/search/", {"q": "x"}).status_code == 404
