"""DKIM signing of outgoing list mail: posts go through the real pipeline
and delivery to an SMTP server on loopback, and what arrived is verified
with dkimpy against the public key on a loopback DNS server."""

import email
from email import policy

import dkim
import dkim.util
import pytest

from lists.models import Action, DmarcMitigation, Personalization
from mailman_site.broker import broker
from members.services import subscribe
from messages.delivery import send_batch
from messages.models import BatchStatus, DeliveryBatch
from messages.pipeline.mime import message_bytes
from tests.inbound_mail import compose, deliver

pytest.register_assert_rewrite("tests.dns_server", "tests.delivery_support", "tests.dkim_keys")
from tests.dkim_keys import loopback_txt, make_key, private_pem, publish, write_key  # noqa: E402

pytest_plugins = ["tests.dns_server", "tests.delivery_support"]

MEMBERS = ["a@example.org", "b@example.net", "c@example.org"]


@pytest.fixture(autouse=True)
def empty_stub_broker():
    broker.flush_all()
    yield
    broker.flush_all()


@pytest.fixture(scope="module")
def list_key():
    return make_key()


@pytest.fixture
def signing(settings, tmp_path, dns_server, list_key):
    """Signing on with a fresh key published for example.com; the dnsfunc to verify with."""
    settings.DKIM_PRIVATE_KEY_FILE = write_key(tmp_path, list_key)
    settings.DKIM_SELECTOR = "mailman"
    settings.DKIM_DOMAIN = ""
    settings.ARC_SEAL = False
    publish(dns_server, list_key, "mailman", "example.com")
    return loopback_txt(dns_server)


@pytest.fixture
def ant(mlist):
    mlist.default_member_action = Action.ACCEPT
    mlist.save()
    for address in ["poster@example.org", *MEMBERS]:
        subscribe(mlist, address)
    return mlist


def post(mlist, msg=None, raw: bytes | None = None):
    inbound = deliver(
        mlist, raw or msg or compose(sender="Poster <poster@example.org>"), mail_from="poster@example.org"
    )
    for batch in inbound.post.batches.all():
        send_batch(batch.pk)
    return inbound


def copies(smtpd) -> dict[str, bytes]:
    return {rcpt: arrived.content for arrived in smtpd.arrived for rcpt in arrived.rcpt_tos}


def signature_tags(content: bytes) -> dict[bytes, bytes]:
    msg = email.message_from_bytes(content, policy=policy.compat32)
    value = msg.get_all("DKIM-Signature")[0]
    return dkim.util.parse_tag_value("".join(value.split()).encode())


def test_a_bulk_post_is_signed_once_and_every_copy_verifies(signing, ant, smtpd):
    post(ant)
    received = copies(smtpd)
    assert set(MEMBERS) <= set(received)
    # One transaction, one message: the signature was made once for the batch.
    assert smtpd.transactions == 1
    for content in received.values():
        assert dkim.verify(content, dnsfunc=signing)


def test_the_signature_names_the_lists_domain_and_covers_the_list_headers(signing, ant, smtpd):
    post(ant, compose(sender="poster@example.org", Date="Thu, 03 Dec 2026 08:00:00 +0000"))
    tags = signature_tags(next(iter(copies(smtpd).values())))
    assert tags[b"d"] == b"example.com"
    assert tags[b"s"] == b"mailman"
    assert tags[b"c"] == b"relaxed/relaxed"
    signed = tags[b"h"].lower().split(b":")
    for field in (b"from", b"to", b"subject", b"date", b"message-id", b"list-id", b"list-unsubscribe", b"list-post"):
        assert field in signed
    # From is signed once more than it appears, so no second From can be added.
    assert signed.count(b"from") == 2


def test_each_personalized_copy_is_signed_for_its_member(signing, ant, smtpd):
    ant.personalize = Personalization.FULL
    ant.save()
    post(ant)
    received = copies(smtpd)
    signatures = set()
    for member in MEMBERS:
        content = received[member]
        assert dkim.verify(content, dnsfunc=signing)
        assert email.message_from_bytes(content, policy=policy.default)["To"] == member
        tags = signature_tags(content)
        assert b"list-unsubscribe-post" in tags[b"h"].lower().split(b":")
        signatures.add(tags[b"b"])
    assert len(signatures) == len(MEMBERS)


def test_an_individually_personalized_post_with_footer_slots_verifies(signing, ant, smtpd):
    ant.personalize = Personalization.INDIVIDUAL
    ant.save()
    post(ant, compose(sender="poster@example.org", body="Line one\n.starts with a dot\n..two dots\n"))
    for member in MEMBERS:
        assert dkim.verify(copies(smtpd)[member], dnsfunc=signing)


def test_dot_stuffed_lines_are_signed_as_the_message_reads(signing, ant, smtpd):
    post(ant, compose(sender="poster@example.org", body=".\n.leading dot\n..\nend\n"))
    content = copies(smtpd)[MEMBERS[0]]
    assert b"\r\n.leading dot\r\n" in content
    assert dkim.verify(content, dnsfunc=signing)


def test_a_copy_changed_on_the_way_fails_verification(signing, ant, smtpd):
    post(ant)
    content = copies(smtpd)[MEMBERS[0]]
    assert not dkim.verify(content.replace(b"Hi all.", b"Hi some."), dnsfunc=signing)


def test_dkim_domain_overrides_the_lists_domain(signing, settings, dns_server, list_key, ant, smtpd):
    settings.DKIM_DOMAIN = "mail.example.net"
    publish(dns_server, list_key, "mailman", "mail.example.net")
    post(ant)
    content = copies(smtpd)[MEMBERS[0]]
    assert signature_tags(content)[b"d"] == b"mail.example.net"
    assert dkim.verify(content, dnsfunc=signing)


def test_a_munged_post_is_signed_after_munging(signing, dns_server, ant, smtpd):
    dns_server.txt("_dmarc.example.org", "v=DMARC1; p=reject")
    ant.dmarc_mitigate_action = DmarcMitigation.MUNGE_FROM
    ant.save()
    post(ant)
    content = copies(smtpd)[MEMBERS[0]]
    assert email.message_from_bytes(content, policy=policy.default)["From"].addresses[0].addr_spec == "ant@example.com"
    assert dkim.verify(content, dnsfunc=signing)


def test_the_authors_signature_is_kept_below_ours(signing, dns_server, ant, smtpd):
    author_key = make_key()
    publish(dns_server, author_key, "s1", "example.org")
    raw = message_bytes(compose(sender="poster@example.org"))
    raw = dkim.sign(raw, b"s1", b"example.org", private_pem(author_key), include_headers=[b"from", b"subject"]) + raw
    post(ant, raw=raw)
    content = copies(smtpd)[MEMBERS[0]]
    signatures = email.message_from_bytes(content, policy=policy.compat32).get_all("DKIM-Signature")
    assert len(signatures) == 2
    assert "d=example.com" in "".join(signatures[0].split())
    assert dkim.verify(content, dnsfunc=signing)


def test_without_a_key_nothing_is_signed(settings, ant, smtpd):
    settings.DKIM_PRIVATE_KEY_FILE = ""
    post(ant)
    assert b"DKIM-Signature" not in copies(smtpd)[MEMBERS[0]]


def test_an_unreadable_key_leaves_the_batch_to_retry(settings, tmp_path, ant, smtpd, caplog):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    settings.DKIM_PRIVATE_KEY_FILE = str(bad)
    with pytest.raises(Exception, match="DKIM_PRIVATE_KEY_FILE"):
        post(ant)
    assert smtpd.arrived == []
    assert set(DeliveryBatch.objects.values_list("status", flat=True)) == {BatchStatus.RETRY}
