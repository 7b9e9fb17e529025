"""Who reads a list's archive on each of its routes: anyone a public one;
a private one its members, moderators and owners and site admins, and
nobody else, whatever they hold elsewhere. Pages send anonymous readers
to log in; feeds, attachments and downloads answer 403 to them. The mbox
download, which holds the addresses as sent, is for the list's members,
moderators, owners and site admins even where the archive is public. A
list somebody could not see at all is a 404, and deleting is for owners."""

import pytest
from django.test import Client

from lists.models import ArchivePolicy
from lists.services import configure_list, create_list
from members.models import Role
from members.services import subscribe
from tests.archive_mail import archive, with_attachment
from tests.conftest import logged_in, make_user

LIST = "/lists/ant.example.com"
PAGES = ["archive/", "archive/2024/01/", "archive/thread/{hash}/", "archive/message/{hash}/"]
MBOX = "archive/export.mbox"
FILES = ["archive/message/{hash}/attachment/1/notes.txt", "archive/feed/", MBOX]
DELETE = "archive/message/{hash}/delete/"
READERS = ["member", "moderator", "owner", "site_admin"]
OUTSIDERS = ["nonmember", "other_owner", "stranger"]


@pytest.fixture
def message(mlist):
    raw = with_attachment("files@x", content_type="text/plain", disposition='filename="notes.txt"', content=b"hi")
    return archive(mlist, raw)


@pytest.fixture
def people(mlist, site_admin, other_owner, stranger) -> dict[str, Client]:
    """A signed-in client for each role (the anonymous one too)."""
    clients = {"anonymous": Client(), "site_admin": logged_in(site_admin)}
    clients["other_owner"] = logged_in(other_owner)
    clients["stranger"] = logged_in(stranger)
    for email, role in [
        ("member@example.org", Role.MEMBER),
        ("moderator@example.org", Role.MODERATOR),
        ("owner@example.org", Role.OWNER),
        ("nonmember@example.org", Role.NONMEMBER),
    ]:
        user = make_user(email)
        subscribe(mlist, email, role=role)
        clients[email.split("@")[0]] = logged_in(user)
    return clients


def url(path: str, message) -> str:
    return f"{LIST}/{path.format(hash=message.message_id_hash)}"


def private(mlist, *, advertised: bool = True) -> None:
    configure_list(mlist, archive_policy=ArchivePolicy.PRIVATE, advertised=advertised)


@pytest.mark.parametrize("role", ["anonymous", *READERS, *OUTSIDERS])
@pytest.mark.parametrize("path", [*PAGES, *FILES[:-1]])
def test_everyone_reads_a_public_archive(people, message, role, path):
    assert people[role].get(url(path, message)).status_code == 200


@pytest.mark.parametrize("role", READERS)
def test_a_public_archive_downloads_as_mbox_for_its_members(people, message, role):
    assert people[role].get(url(MBOX, message)).status_code == 200


@pytest.mark.parametrize("role", ["anonymous", *OUTSIDERS])
def test_a_public_archive_does_not_download_for_others(people, message, role):
    response = people[role].get(url(MBOX, message))
    assert response.status_code == 403
    assert b"Message-ID" not in response.content


def test_the_download_links_show_to_members_only(people, message):
    assert b"export.mbox" in people["member"].get(url("archive/", message)).content
    assert b"export.mbox" not in people["anonymous"].get(url("archive/", message)).content
    assert b"export.mbox" not in people["stranger"].get(url("archive/2024/01/", message)).content


@pytest.mark.parametrize("role", READERS)
@pytest.mark.parametrize("path", PAGES + FILES)
def test_members_moderators_owners_and_admins_read_a_private_archive(mlist, people, message, role, path):
    private(mlist)
    assert people[role].get(url(path, message)).status_code == 200


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_readers_of_a_private_archives_pages_are_sent_to_log_in(mlist, people, message, path):
    private(mlist)
    response = people["anonymous"].get(url(path, message))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("path", FILES)
def test_anonymous_fetches_from_a_private_archive_are_403(mlist, people, message, path):
    private(mlist)
    response = people["anonymous"].get(url(path, message))
    assert response.status_code == 403
    assert b"Hello" not in response.content and b"hi" != response.content


@pytest.mark.parametrize("role", OUTSIDERS)
@pytest.mark.parametrize("path", PAGES + FILES)
def test_others_are_refused_a_private_archive_they_can_see_exists(mlist, people, message, role, path):
    private(mlist)
    response = people[role].get(url(path, message))
    assert response.status_code == 403
    assert b"Files" not in response.content


@pytest.mark.parametrize("role", OUTSIDERS)
@pytest.mark.parametrize("path", PAGES + FILES)
def test_a_private_archive_of_an_unadvertised_list_is_404_to_others(mlist, people, message, role, path):
    private(mlist, advertised=False)
    assert people[role].get(url(path, message)).status_code == 404


@pytest.mark.parametrize("path", FILES)
def test_anonymous_fetches_from_an_unadvertised_private_list_are_404(mlist, people, message, path):
    private(mlist, advertised=False)
    assert people["anonymous"].get(url(path, message)).status_code == 404


@pytest.mark.parametrize("role", ["member", "moderator", "owner", "site_admin", "nonmember"])
def test_a_list_without_archive_shows_what_it_kept_to_its_members_only(mlist, people, message, role):
    configure_list(mlist, archive_policy=ArchivePolicy.NEVER)
    expected = 403 if role == "nonmember" else 200
    assert people[role].get(url("archive/message/{hash}/", message)).status_code == expected


@pytest.mark.parametrize("path", PAGES + FILES + [DELETE])
def test_an_unknown_list_is_404_on_every_route(people, message, path):
    path = url(path, message).replace("ant.example.com", "nope.example.com")
    assert people["site_admin"].get(path).status_code == 404
    assert people["anonymous"].get(path).status_code == 404


@pytest.mark.parametrize("policy", [ArchivePolicy.PUBLIC, ArchivePolicy.PRIVATE])
@pytest.mark.parametrize("role", ["owner", "site_admin"])
def test_owners_and_site_admins_may_delete(mlist, people, message, policy, role):
    configure_list(mlist, archive_policy=policy)
    assert people[role].get(url(DELETE, message)).status_code == 200
    assert "Delete from the archive" in people[role].get(url("archive/message/{hash}/", message)).content.decode()


@pytest.mark.parametrize("role", ["member", "moderator", "nonmember", "other_owner", "stranger"])
def test_nobody_else_may_delete_or_sees_the_button(mlist, people, message, role):
    assert people[role].get(url(DELETE, message)).status_code == 403
    assert people[role].post(url(DELETE, message)).status_code == 403
    assert "Delete from the archive" not in people[role].get(url("archive/message/{hash}/", message)).content.decode()


def test_anonymous_deleters_are_sent_to_log_in(people, message):
    response = people["anonymous"].post(url(DELETE, message))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("path", [path for path in PAGES + FILES if "{hash}" in path] + [DELETE])
def test_a_message_of_another_list_is_not_found_through_this_one(mlist, people, message, path):
    other = create_list("bee@example.com")
    foreign = archive(other, with_attachment("w@x", content_type="text/plain", disposition="filename=a", content=b"w"))
    assert people["site_admin"].get(url(path, foreign)).status_code == 404
