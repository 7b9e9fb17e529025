"""The archive in Django admin: site admins see archived messages, broken ones with their error."""

from archive.services import archive_message
from tests.inbound_mail import corpus_message


def test_site_admin_finds_a_broken_message_and_its_error(client, site_admin, mlist):
    broken = archive_message(mlist, bytes(range(256)) * 4).message
    archive_message(mlist, corpus_message("msg_07.txt"))
    client.force_login(site_admin)
    listing = client.get("/admin/archive/archivedmessage/?is_broken__exact=1")
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1
    page = client.get(f"/admin/archive/archivedmessage/{broken.pk}/change/")
    assert page.status_code == 200
    assert broken.error in page.content.decode()


def test_site_admin_sees_threads(client, site_admin, mlist):
    message = archive_message(mlist, corpus_message("msg_07.txt")).message
    client.force_login(site_admin)
    assert client.get("/admin/archive/thread/").status_code == 200
    assert client.get(f"/admin/archive/thread/{message.thread_id}/change/").status_code == 200
