"""GET /api/v3/search: ranked hits from the archives the caller may read;
whatever the input, a clear 400 or 404, never a 500."""

import pytest

from archive.search import MAX_PAGE, PAGE_SIZE
from lists.models import ArchivePolicy
from lists.services import create_list
from members.services import subscribe
from tests.api_callers import API, client_for, key_client
from tests.archive_mail import archived
from tests.conftest import make_user

URL = f"{API}/search"


def mail(number: int, subject: str, body: str, sender: str = "Ada <ada@example.org>") -> bytes:
    return (
        f"From: {sender}\nSubject: {subject}\nMessage-ID: <api{number}@example.org>\n"
        f"Date: Fri, 01 Mar 2024 10:00:00 +0000\n\n{body}\n"
    ).encode()


@pytest.fixture
def private_list(domain):
    return create_list("queen@example.com", archive_policy=ArchivePolicy.PRIVATE, advertised=False)


@pytest.fixture
def archives(mlist, private_list):
    archived(mlist, mail(1, "Public ants", "forage forage forage"), mail(2, "Other", "forage once, at dusk"))
    archived(private_list, mail(3, "Private queen", "forage in secret"))


def test_anonymous_callers_search_public_archives(archives):
    response = client_for().get(URL, {"q": "forage"})
    assert response.status_code == 200
    body = response.json()
    assert [hit["subject"] for hit in body["results"]] == ["Public ants", "Other"]
    assert body["page"] == 1 and body["has_next"] is False
    hit = body["results"][0]
    assert hit["sender"] == "ada at example.org"
    assert hit["list_id"] == "ant.example.com"
    assert hit["url"].startswith("http://testserver/lists/ant.example.com/archive/message/")
    assert "<mark>forage</mark>" in hit["snippet"]


def test_members_of_a_private_list_find_its_messages(archives, private_list):
    reader = make_user("worker@example.org")
    subscribe(private_list, reader.email)
    response = key_client(reader, scope="read").get(URL, {"q": "forage", "list": "queen@example.com"})
    assert response.status_code == 200
    assert [hit["subject"] for hit in response.json()["results"]] == ["Private queen"]
    assert response.json()["results"][0]["sender"] == "ada@example.org"


def test_a_private_list_unseen_by_the_caller_is_404(archives, stranger):
    for client in (client_for(), client_for(stranger)):
        response = client.get(URL, {"q": "forage", "list": "queen.example.com"})
        assert response.status_code == 404
        assert "message" in response.json()


def test_an_advertised_list_with_a_private_archive_is_403(archives, private_list, stranger):
    private_list.advertised = True
    private_list.save()
    response = client_for(stranger).get(URL, {"q": "forage", "list": "queen.example.com"})
    assert response.status_code == 403
    assert "members" in response.json()["message"]


def test_filters_from_and_dates(archives, mlist):
    archived(mlist, mail(9, "By Bob", "forage", sender="Bob <bob@example.net>"))
    response = client_for().get(URL, {"q": "forage", "from": "bob@example.net", "after": "2024-03-01"})
    assert [hit["subject"] for hit in response.json()["results"]] == ["By Bob"]
    response = client_for().get(URL, {"q": "forage", "before": "2024-03-01"})
    assert response.json()["results"] == []


def test_pages(mlist):
    archived(mlist, *(mail(n, f"Message {n}", "colony") for n in range(PAGE_SIZE + 1)))
    first = client_for().get(URL, {"q": "colony"}).json()
    second = client_for().get(URL, {"q": "colony", "page": 2}).json()
    assert (len(first["results"]), first["has_next"]) == (PAGE_SIZE, True)
    assert (len(second["results"]), second["has_next"]) == (1, False)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 10_000}, "q"),
        ({"q": "ants", "page": "0"}, "page"),
        ({"q": "ants", "page": "-3"}, "page"),
        ({"q": "ants", "page": "two"}, "page"),
        ({"q": "ants", "page": str(MAX_PAGE + 1)}, "page"),
        ({"q": "ants", "page": "9" * 40}, "page"),
        ({"q": "ants", "after": "2024-02-30"}, "after"),
        ({"q": "ants", "before": "yesterday"}, "before"),
        ({"q": "ants", "from": "x" * 1000}, "from"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(archives, params, field):
    response = client_for().get(URL, params)
    assert response.status_code == 400
    body = response.json()
    assert field in body["errors"]
    assert body["message"]


@pytest.mark.parametrize(
    "q",
    [
        '"unbalanced',
        'forage "',
        "(((",
        ")))",
        "AND OR NOT TO",
        "*",
        "?",
        "forage~2",
        "[a TO z]",
        "{a TO}",
        "subject:",
        "from:",
        "date:[20240101 TO 20250101]",
        "django_ct:archive.archivedmessage",
        "forage after:0001-01-01",
        "forage before:not-a-date",
        "\x00",
        "forage\x00",
        "\u202e\u200b\ufeff",
        "🐜" * 500,
        "漢字 ﬁ ǅ İ ß",
        "a" * 999,
        "forage " * 200,
        "%00%ff",
    ],
)
def test_hostile_queries_are_answered_200_or_400(archives, q):
    response = client_for().get(URL, {"q": q})
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["message"]


@pytest.mark.parametrize("raw", ["%ED%A0%80", "%FF%FE", "%C0%AF", "%F4%90%80%80"])
def test_undecodable_query_strings_are_answered_200_or_400(archives, raw):
    response = client_for().get(f"{URL}?q={raw}&from={raw}")
    assert response.status_code in (200, 400), response.content


def test_an_unknown_list_is_404(archives):
    for ref in ("nosuch@example.com", "nosuch.example.com", "x" * 1000, "bad\x00list"):
        response = client_for().get(URL, {"q": "forage", "list": ref})
        assert response.status_code in (400, 404)
        assert response.json()["message"]


def test_write_methods_are_refused(archives, site_admin):
    response = key_client(site_admin).post(URL, {"q": "forage"})
    assert response.status_code == 405


def test_the_schema_documents_the_search(archives):
    schema = client_for().get(f"{API}/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v3/search" in text and "Search the archives" in text
