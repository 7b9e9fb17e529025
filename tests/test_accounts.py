"""Accounts (django-allauth): sign-up with a confirmed email, log in and out,
password reset, more addresses; confirmed emails become verified Addresses."""

import email
import re
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.urls import reverse

from members.models import Address
from members.services import subscribe, verify_address
from tests.ports import free_port

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    # allauth counts attempts in the cache, which outlives a test.
    cache.clear()


@pytest.fixture
def account():
    """A user whose email was confirmed, as sign-up leaves it."""
    user = get_user_model().objects.create_user(username="alice", email="alice@example.org", password=PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    verify_address(user.email, user)
    return user


def sign_up(client, address: str, password: str = PASSWORD, password2: str | None = None):
    data = {"email": address, "password1": password, "password2": password if password2 is None else password2}
    return client.post(reverse("account_signup"), data)


def log_in(client, address: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": address, "password": password})


def link_path(body: str) -> str:
    """The path of the one link in a mail body."""
    (url,) = re.findall(r"https?://\S+", body)
    return urlsplit(url).path


def logged_in_user_id(client) -> str | None:
    return client.session.get("_auth_user_id")


def verified_address(address: str) -> Address | None:
    return Address.objects.filter(email=address, verified_at__isnull=False).first()


def test_sign_up_then_confirm_makes_a_verified_linked_address(client, mailoutbox):
    response = sign_up(client, "bob@example.net")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert verified_address("bob@example.net") is None
    (mail,) = mailoutbox
    assert mail.to == ["bob@example.net"]

    confirm = link_path(mail.body)
    assert client.get(confirm).status_code == 200
    assert client.post(confirm).status_code == 302

    address = verified_address("bob@example.net")
    assert address is not None
    assert address.user == get_user_model().objects.get(email="bob@example.net")


def test_account_cannot_log_in_before_confirming(client, mailoutbox):
    sign_up(client, "bob@example.net")
    client.logout()
    response = log_in(client, "bob@example.net")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert logged_in_user_id(client) is None


def test_confirming_links_an_address_subscribed_earlier(client, mlist, mailoutbox):
    earlier = subscribe(mlist, "carol@example.net").address
    sign_up(client, "carol@example.net")
    assert not Address.objects.get(pk=earlier.pk).verified
    client.post(link_path(mailoutbox[0].body))
    address = Address.objects.get(pk=earlier.pk)
    assert address.verified
    assert address.user.email == "carol@example.net"
    assert address.memberships.get().mailing_list == mlist


def test_log_in_and_out(client, account):
    response = log_in(client, account.email)
    assert response.status_code == 302
    assert logged_in_user_id(client) == str(account.pk)
    assert account.email in client.get("/").content.decode()

    assert client.post(reverse("account_logout")).status_code == 302
    assert logged_in_user_id(client) is None


def test_wrong_password_is_refused(client, account):
    response = log_in(client, account.email, "not the password")
    assert response.status_code == 200
    assert response.context["form"].errors
    assert logged_in_user_id(client) is None


def test_password_reset_end_to_end(client, account, mailoutbox):
    response = client.post(reverse("account_reset_password"), {"email": account.email})
    assert response.status_code == 302
    (mail,) = mailoutbox
    assert mail.to == [account.email]

    # The link's key moves into the session, then the form is shown.
    response = client.get(link_path(mail.body))
    assert response.status_code == 302
    set_password = response["Location"]
    new = "a brand new passphrase"
    response = client.post(set_password, {"password1": new, "password2": new})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_reset_password_from_key_done")

    client.logout()
    assert log_in(client, account.email, PASSWORD).status_code == 200
    assert logged_in_user_id(client) is None
    log_in(client, account.email, new)
    assert logged_in_user_id(client) == str(account.pk)


def test_second_email_becomes_a_verified_address_once_confirmed(client, account, mailoutbox):
    client.force_login(account)
    response = client.post(reverse("account_email"), {"email": "alice@work.example", "action_add": ""})
    assert response.status_code == 302
    (mail,) = mailoutbox
    assert verified_address("alice@work.example") is None

    client.post(link_path(mail.body))
    address = verified_address("alice@work.example")
    assert address is not None
    assert address.user == account
    assert set(account.addresses.values_list("email", flat=True)) == {"alice@example.org", "alice@work.example"}


def test_removing_an_email_from_the_account_unlinks_its_address(client, account, mailoutbox):
    client.force_login(account)
    client.post(reverse("account_email"), {"email": "alice@work.example", "action_add": ""})
    client.post(link_path(mailoutbox[0].body))
    client.post(reverse("account_email"), {"email": "alice@work.example", "action_remove": ""})
    assert set(account.addresses.values_list("email", flat=True)) == {"alice@example.org"}
    assert Address.objects.get(email="alice@work.example").user is None


def test_unconfirmed_emails_never_become_verified_addresses(client, account, mlist, mailoutbox):
    subscribe(mlist, "dave@example.net")
    sign_up(client, "dave@example.net")
    sign_up(client, "erin@example.net")
    client.force_login(account)
    client.post(reverse("account_email"), {"email": "alice@work.example", "action_add": ""})
    assert len(mailoutbox) == 3
    assert verified_address("dave@example.net") is None
    assert verified_address("erin@example.net") is None
    assert verified_address("alice@work.example") is None
    assert set(Address.objects.filter(verified_at__isnull=False).values_list("email", flat=True)) == {
        "alice@example.org"
    }


def test_a_used_confirmation_link_does_not_verify_an_address_added_later(client, account, mailoutbox):
    client.force_login(account)
    client.post(reverse("account_email"), {"email": "alice@work.example", "action_add": ""})
    client.post(link_path(mailoutbox[0].body))
    client.post(reverse("account_email"), {"email": "alice@home.example", "action_add": ""})
    client.post(link_path(mailoutbox[0].body))
    assert verified_address("alice@home.example") is None


@pytest.mark.parametrize(
    ("address", "password", "password2", "field"),
    [
        ("not-an-email", PASSWORD, None, "email"),
        ("bob@example.net\r\nBcc: victim@example.org", PASSWORD, None, "email"),
        ("bob@example.net", PASSWORD, "a different passphrase", "password2"),
        ("bob@example.net", "short", None, "password1"),
        ("b" * 100_000 + "@example.net", PASSWORD, None, "email"),
        ("bob@" + "x" * 100_000 + ".example", PASSWORD, None, "email"),
        ("bob@example.net", "p" * 100_000, None, "password1"),
    ],
    ids=[
        "bad email",
        "header injection",
        "mismatched",
        "weak password",
        "huge local part",
        "huge domain",
        "huge password",
    ],
)
def test_hostile_sign_up_input_is_a_form_error(client, mailoutbox, address, password, password2, field):
    response = sign_up(client, address, password, password2)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not get_user_model().objects.exists()
    assert not mailoutbox


def test_hostile_log_in_input_is_a_form_error(client, account):
    for login, password in [("x" * 100_000, PASSWORD), (account.email, "p" * 100_000), ("", "")]:
        response = log_in(client, login, password)
        assert response.status_code == 200
        assert response.context["form"].errors
    assert logged_in_user_id(client) is None


class CollectingHandler:
    """An aiosmtpd handler that keeps what it is sent."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    port = free_port()
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def test_sign_up_confirmation_goes_out_over_smtp(client, settings, smtp_server):
    port, handler = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10

    sign_up(client, "frank@example.net")

    (envelope,) = handler.envelopes
    assert envelope.rcpt_tos == ["frank@example.net"]
    message = email.message_from_bytes(envelope.original_content)
    assert message["To"] == "frank@example.net"
    body = message.get_payload(decode=True).decode()
    client.post(link_path(body))
    assert verified_address("frank@example.net") is not None
