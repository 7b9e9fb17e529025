"""/api/v3/lists/{list_id}/held/: the hold queue over REST."""

import pytest

from lists.services import configure_list
from messages.models import HeldStatus, InboundStatus, Post
from tests.api_callers import API, client_for, key_client, make_moderator
from tests.conftest import make_user
from tests.inbound_mail import compose, deliver

pytest_plugins = ["tests.mail_fixtures"]

QUEUE = f"{API}/lists/ant.example.com/held/"
NONMEMBER = "outsider@example.net"


@pytest.fixture
def held(mlist):
    msg = compose(sender=NONMEMBER, subject="Let me in", body="Hello ants.\n", Approved="guess")
    return deliver(mlist, msg, mail_from=NONMEMBER).held


def test_owners_see_the_pending_held_messages(held, owner):
    response = client_for(owner).get(QUEUE)
    assert response.status_code == 200
    [item] = response.json()["results"]
    assert item["id"] == held.pk
    assert (item["sender"], item["subject"], item["status"]) == (NONMEMBER, "Let me in", "pending")
    assert item["reasons"] == ["The message is not from a list member"]


def test_the_posting_address_names_the_list_too(held, owner):
    assert client_for(owner).get(f"{API}/lists/ant@example.com/held/").status_code == 200


def test_moderators_and_site_admins_see_them_too(held, mlist, site_admin):
    for user in (make_moderator(mlist), site_admin):
        assert client_for(user).get(QUEUE).json()["count"] == 1


def test_decided_messages_are_listed_on_request(held, owner):
    client_for(owner).post(f"{QUEUE}{held.pk}/discard/")
    assert client_for(owner).get(QUEUE).json()["count"] == 0
    assert client_for(owner).get(QUEUE, {"status": "discarded"}).json()["count"] == 1
    assert client_for(owner).get(QUEUE, {"status": "bogus"}).status_code == 400


def test_members_may_not_see_the_queue(held, member):
    assert client_for(member).get(QUEUE).status_code == 403
    assert client_for(member).get(f"{QUEUE}{held.pk}/").status_code == 403
    assert client_for(member).post(f"{QUEUE}{held.pk}/approve/").status_code == 403
    assert not Post.objects.exists()


def test_strangers_get_403_on_an_advertised_list_and_404_on_a_hidden_one(held, stranger, mlist):
    assert client_for(stranger).get(QUEUE).status_code == 403
    configure_list(mlist, advertised=False)
    assert client_for(stranger).get(QUEUE).status_code == 404
    assert client_for(stranger).post(f"{QUEUE}{held.pk}/discard/").status_code == 404


def test_an_owner_with_an_unverified_address_is_a_stranger(held, mlist):
    from members.services import get_or_create_address, subscribe

    user = make_user("claimer@example.org")
    address = get_or_create_address("owner-to-be@example.org")
    address.user = user
    address.save()
    subscribe(mlist, "owner-to-be@example.org", role="owner")
    assert client_for(user).get(QUEUE).status_code == 403


def test_anonymous_callers_get_401(held):
    assert client_for().get(QUEUE).status_code == 401
    assert client_for().post(f"{QUEUE}{held.pk}/approve/").status_code == 401


def test_the_preview_shows_headers_and_text_without_the_password(held, owner):
    response = client_for(owner).get(f"{QUEUE}{held.pk}/")
    assert response.status_code == 200
    preview = response.json()["preview"]
    headers = dict(preview["headers"])
    assert headers["Subject"] == "Let me in"
    assert headers["From"] == NONMEMBER
    assert "Approved" not in headers
    assert preview["text"] == "Hello ants.\n"
    assert preview["parts"] == [{"content_type": "text/plain", "filename": "", "size": len(b"Hello ants.\r\n")}]


def test_an_unknown_held_message_is_404(held, owner):
    assert client_for(owner).get(f"{QUEUE}{held.pk + 1000}/").status_code == 404


def test_approving_posts_the_message(held, owner):
    response = client_for(owner).post(f"{QUEUE}{held.pk}/approve/")
    assert response.status_code == 200
    assert response.json()["status"] == HeldStatus.APPROVED
    assert response.json()["decided_by"] == owner.username
    assert Post.objects.get().subject == "[ant] Let me in"


def test_approving_twice_is_a_conflict(held, owner):
    client_for(owner).post(f"{QUEUE}{held.pk}/approve/")
    response = client_for(owner).post(f"{QUEUE}{held.pk}/approve/")
    assert response.status_code == 409
    assert "already been approved" in response.json()["message"]


def test_rejecting_tells_the_sender_why(held, owner, smtp_sink):
    response = client_for(owner).post(f"{QUEUE}{held.pk}/reject/", {"reason": "Subscribe first."}, format="json")
    assert response.status_code == 200
    assert response.json()["decision_reason"] == "Subscribe first."
    [notice] = smtp_sink.to(NONMEMBER)
    assert "Subscribe first." in notice.message.get_body(("plain",)).get_content()


def test_a_reject_with_unknown_fields_is_refused(held, owner):
    response = client_for(owner).post(f"{QUEUE}{held.pk}/reject/", {"why": "x"}, format="json")
    assert response.status_code == 400


def test_a_reject_whose_notice_fails_is_503_and_changes_nothing(held, owner, smtp_down):
    response = client_for(owner).post(f"{QUEUE}{held.pk}/reject/", {"reason": "No."}, format="json")
    assert response.status_code == 503
    held.refresh_from_db()
    assert held.status == HeldStatus.PENDING


def test_discarding_drops_the_message(held, owner):
    response = client_for(owner).post(f"{QUEUE}{held.pk}/discard/")
    assert response.status_code == 200
    held.inbound.refresh_from_db()
    assert held.inbound.status == InboundStatus.DISCARDED
    assert not Post.objects.exists()


def test_a_read_only_api_key_may_look_but_not_decide(held, owner):
    client = key_client(owner, scope="read")
    assert client.get(QUEUE).status_code == 200
    assert client.post(f"{QUEUE}{held.pk}/approve/").status_code == 403


@pytest.mark.parametrize("ref", ["99999999999999999999999", "-1", "abc", "1.5"])
def test_hostile_ids_are_404(held, owner, ref):
    assert client_for(owner).get(f"{QUEUE}{ref}/").status_code == 404
    assert client_for(owner).post(f"{QUEUE}{ref}/approve/").status_code == 404


def test_a_reason_that_is_not_text_is_400(held, owner):
    response = client_for(owner).post(f"{QUEUE}{held.pk}/reject/", {"reason": ["x"]}, format="json")
    assert response.status_code == 400


def test_the_queue_gives_each_posts_size(held, owner):
    [item] = client_for(owner).get(QUEUE).json()["results"]
    assert item["size"] == held.inbound.size > 0


def test_deferring_leaves_the_post_pending(held, owner):
    response = client_for(owner).post(f"{QUEUE}{held.pk}/defer/")
    assert response.status_code == 200
    assert response.json()["status"] == HeldStatus.PENDING
    client_for(owner).post(f"{QUEUE}{held.pk}/discard/")
    assert client_for(owner).post(f"{QUEUE}{held.pk}/defer/").status_code == 409


def test_a_member_may_not_defer(held, member):
    assert client_for(member).post(f"{QUEUE}{held.pk}/defer/").status_code == 403


def test_an_html_only_post_previews_as_source(mlist, owner):
    msg = compose(sender=NONMEMBER, subject="Shiny")
    msg.set_content("<p>Hi <script>alert(1)</script></p>", subtype="html")
    held = deliver(mlist, msg, mail_from=NONMEMBER).held
    preview = client_for(owner).get(f"{QUEUE}{held.pk}/").json()["preview"]
    assert preview["text"] == ""
    assert preview["html_source"] == "<p>Hi <script>alert(1)</script></p>\n"


def test_a_broken_post_previews(mlist, owner):
    raw = (
        b"From: outsider@example.net\r\nTo: ant@example.com\r\nSubject: =?bogus?B?***?=\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\n'
        b"Content-Type: text/plain; charset=no-such-charset\r\n\r\n\xff\xfe caf\xe9\r\n"
    )
    held = deliver(mlist, raw, mail_from=NONMEMBER).held
    response = client_for(owner).get(f"{QUEUE}{held.pk}/")
    assert response.status_code == 200
    assert "caf" in response.json()["preview"]["text"]


def test_a_huge_reason_is_400(held, owner):
    response = client_for(owner).post(f"{QUEUE}{held.pk}/reject/", {"reason": "x" * 100_001}, format="json")
    assert response.status_code == 400
    held.refresh_from_db()
    assert held.status == HeldStatus.PENDING


def test_two_approvals_at_once_post_once(held, owner):
    from messages.models import HeldMessage

    first, second = HeldMessage.objects.get(pk=held.pk), HeldMessage.objects.get(pk=held.pk)
    assert client_for(owner).post(f"{QUEUE}{first.pk}/approve/").status_code == 200
    assert client_for(owner).post(f"{QUEUE}{second.pk}/approve/").status_code == 409
    assert Post.objects.count() == 1
