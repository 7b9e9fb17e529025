"""The receiver remembers list addresses it resolved for a few seconds, so
a busy MTA's RCPTs need no database query; what it remembers never lets
mail be lost or misdirected."""

import pytest

from lists.services import create_list, delete_list
from messages.addresses import resolve_recipient
from messages.lmtp import RecipientCache
from messages.models import InboundMessage
from tests.lmtp_client import connected, deliver, make_message, running_lmtp_server, use_stub_broker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lmtp_server(transactional_db, monkeypatch):
    use_stub_broker(monkeypatch)
    with running_lmtp_server() as server:
        yield server


def test_an_address_is_remembered_while_its_time_lasts(mlist):
    cache = RecipientCache(ttl=60)
    recipient = resolve_recipient("ant@example.com")

    cache.put("ant@example.com", recipient)

    assert cache.get("ant@example.com") is recipient
    assert cache.get("ant-owner@example.com") is None


def test_an_expired_entry_is_not_used(mlist):
    cache = RecipientCache(ttl=-1)
    cache.put("ant@example.com", resolve_recipient("ant@example.com"))

    assert cache.get("ant@example.com") is None


def test_the_oldest_entry_makes_room_when_full(mlist):
    cache = RecipientCache(ttl=60, size=2)
    for address in ["ant@example.com", "ant-request@example.com", "ant-owner@example.com"]:
        cache.put(address, resolve_recipient(address))

    assert cache.get("ant@example.com") is None
    assert cache.get("ant-owner@example.com") is not None


def test_a_list_created_after_a_550_is_known_at_once(domain, lmtp_server):
    with connected(lmtp_server) as client:
        assert deliver(client, ["bee@example.com"], make_message("<1@x>")).rcpt["bee@example.com"][0] == 550
        create_list("bee@example.com")

        delivery = deliver(client, ["bee@example.com"], make_message("<2@x>"))

    assert delivery.data_codes == [250]


def test_a_list_deleted_while_remembered_gets_451_then_550(mlist, lmtp_server):
    with connected(lmtp_server) as client:
        assert deliver(client, ["ant@example.com"], make_message("<1@x>")).data_codes == [250]
        delete_list(mlist)

        remembered = deliver(client, ["ant@example.com"], make_message("<2@x>"))
        retried = deliver(client, ["ant@example.com"], make_message("<2@x>"))

    # The row cannot be stored for a list that is gone: the MTA keeps the
    # message and its retry, asked afresh, learns the list does not exist.
    assert remembered.data_codes == [451]
    assert retried.rcpt["ant@example.com"][0] == 550
    assert not InboundMessage.objects.filter(message_id="<2@x>").exists()
