"""The list page's subscribe and unsubscribe forms and the confirmation link,
end to end with a real SMTP server on loopback."""

import re
from urllib.parse import urlsplit

from lists.services import configure_list
from members.models import Membership
from members.services import ban, subscribe

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

SUBSCRIBE = "/lists/ant.example.com/subscribe/"
UNSUBSCRIBE = "/lists/ant.example.com/unsubscribe/"


def link_in(mail) -> str:
    (url,) = re.findall(r"https?://\S+/confirm/\S+/", mail.message.get_content())
    return urlsplit(url).path


def is_member(email: str) -> bool:
    return Membership.objects.filter(address__email=email, role="member").exists()


def test_subscribe_confirm_by_link_and_be_welcomed(client, mlist, smtp_sink, django_capture_on_commit_callbacks):
    response = client.post(SUBSCRIBE, {"email": "Joiner@Example.net", "display_name": "Jo"})
    assert response.status_code == 200
    assert b"Check your mailbox" in response.content
    (confirmation,) = smtp_sink.to("joiner@example.net")
    path = link_in(confirmation)
    assert client.get(path).status_code == 200
    assert not is_member("joiner@example.net"), "a GET must not confirm"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path)
    assert response.status_code == 200
    assert is_member("joiner@example.net")
    assert len(smtp_sink.to("joiner@example.net")) == 2, "the welcome mail follows"
    assert client.post(path).status_code == 400, "a token works once"


def test_the_form_answers_alike_for_members_banned_and_new_addresses(client, mlist, smtp_sink):
    subscribe(mlist, "member@example.net")
    ban(mlist, "banned@example.net")
    answers = {
        email: client.post(SUBSCRIBE, {"email": email}).content.replace(email.encode(), b"X")
        for email in ("member@example.net", "banned@example.net", "new@example.net")
    }
    assert len(set(answers.values())) == 1
    # The member is mailed as a new address is (same work, same time); a banned address never.
    assert [mail.rcpt_tos for mail in smtp_sink.received] == [["member@example.net"], ["new@example.net"]]


def test_unsubscribe_needs_the_mailed_confirmation(client, mlist, smtp_sink):
    subscribe(mlist, "leaver@example.net")
    assert client.get(UNSUBSCRIBE).status_code == 200
    client.post(UNSUBSCRIBE, {"email": "leaver@example.net"})
    assert is_member("leaver@example.net")
    (confirmation,) = smtp_sink.to("leaver@example.net")
    client.post(link_in(confirmation))
    assert not is_member("leaver@example.net")


def test_moderated_list_request_waits_for_the_owners(client, mlist, smtp_sink):
    configure_list(mlist, subscription_policy="confirm_then_moderate")
    client.post(SUBSCRIBE, {"email": "joiner@example.net"})
    response = client.post(link_in(smtp_sink.to("joiner@example.net")[0]))
    assert b"approval" in response.content
    assert not is_member("joiner@example.net")


def test_bad_input_is_a_form_error(client, mlist):
    for data in ({}, {"email": "not an address"}, {"email": "a@b.example\r\nBcc: x@y.example"}, {"email": "x" * 5000}):
        response = client.post(SUBSCRIBE, data)
        assert response.status_code == 400
        assert b"errorlist" in response.content


def test_tampered_token_changes_nothing(client, mlist):
    assert client.post("/lists/ant.example.com/confirm/" + "a" * 32 + "/").status_code == 400


def test_confirmation_mails_to_one_address_are_limited(client, mlist, smtp_sink):
    statuses = [client.post(SUBSCRIBE, {"email": "victim@example.net"}).status_code for _ in range(6)]
    assert statuses.count(429) >= 1
    assert len(smtp_sink.to("victim@example.net")) < 6


def test_unknown_list_is_404(client, db):
    assert client.post("/lists/nope.example.com/subscribe/", {"email": "a@example.net"}).status_code == 404
