"""Which list, and which of its addresses, an RCPT TO names."""

import pytest

from lists.models import MailingList
from messages.addresses import UnknownRecipient, resolve_recipient
from messages.models import Destination

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("address", "destination", "argument"),
    [
        ("ant@example.com", Destination.POST, ""),
        ("ant-request@example.com", Destination.REQUEST, ""),
        ("ant-join@example.com", Destination.JOIN, ""),
        ("ant-subscribe@example.com", Destination.JOIN, ""),
        ("ant-leave@example.com", Destination.LEAVE, ""),
        ("ant-unsubscribe@example.com", Destination.LEAVE, ""),
        ("ant-confirm+0123abcdef@example.com", Destination.CONFIRM, "0123abcdef"),
        ("ant-confirm@example.com", Destination.CONFIRM, ""),
        ("ant-owner@example.com", Destination.OWNER, ""),
        ("ant-bounces@example.com", Destination.BOUNCES, ""),
        ("ant-bounces+bob=example.org@example.com", Destination.BOUNCES, "bob=example.org"),
        ("ant-bounces+bob+tag=example.org@example.com", Destination.BOUNCES, "bob+tag=example.org"),
        ("ant+anything@example.com", Destination.POST, "anything"),
    ],
)
def test_each_list_address_resolves_to_its_destination(mlist, address, destination, argument):
    recipient = resolve_recipient(address)

    assert (recipient.mailing_list, recipient.destination, recipient.argument) == (mlist, destination, argument)
    assert recipient.address == address


def test_case_is_ignored_but_the_argument_keeps_its_case(mlist):
    recipient = resolve_recipient("Ant-Confirm+AbC@EXAMPLE.com")

    assert (recipient.mailing_list, recipient.destination, recipient.argument) == (mlist, Destination.CONFIRM, "AbC")


def test_resolving_asks_the_database_once(mlist, django_assert_num_queries):
    with django_assert_num_queries(1):
        resolve_recipient("ant-request@example.com")


@pytest.mark.parametrize(
    "address",
    [
        "nobody@example.com",
        "ant@example.net",
        "ant-admin@example.com",
        "ant-requests@example.com",
        "bee-request@example.com",
        "-request@example.com",
    ],
)
def test_an_address_no_list_has_is_unknown(mlist, address):
    with pytest.raises(UnknownRecipient, match="No such list"):
        resolve_recipient(address)


@pytest.mark.parametrize(
    "address",
    ["", "@", "ant", "ant@", "@example.com", "ant@exa mple.com", "\udcff\udcfe@example.com", "ant+" + "x" * 300],
)
def test_what_no_list_could_be_called_is_unknown_without_a_query(mlist, address, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(UnknownRecipient):
        resolve_recipient(address)


def test_a_list_named_like_a_subaddress_keeps_its_own_addresses(mlist):
    # create_list refuses such names; a list imported from elsewhere may have one.
    owners_list = MailingList.objects.create(domain=mlist.domain, list_name="ant-owner")

    assert resolve_recipient("ant-owner@example.com").mailing_list == owners_list
    assert resolve_recipient("ant-owner@example.com").destination == Destination.POST
    recipient = resolve_recipient("ant-owner-request@example.com")
    assert (recipient.mailing_list, recipient.destination) == (owners_list, Destination.REQUEST)
