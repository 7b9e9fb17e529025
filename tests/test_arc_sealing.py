"""ARC sealing (RFC 8617) of outgoing list mail, with the results of our
check of the post's incoming DKIM signature; verified with dkimpy's
arc_verify against keys on a loopback DNS server."""

import email
from email import policy

import dkim
import pytest

from lists.models import Action, Personalization
from mailman_site.broker import broker
from members.services import subscribe
from messages.delivery import send_batch
from messages.pipeline.mime import message_bytes
from tests.inbound_mail import compose, deliver

pytest.register_assert_rewrite("tests.dns_server", "tests.delivery_support", "tests.dkim_keys")
from tests.dkim_keys import loopback_txt, make_key, private_pem, publish, write_key  # noqa: E402

pytest_plugins = ["tests.dns_server", "tests.delivery_support"]

MEMBERS = ["a@example.org", "b@example.net"]
AUTHSERV_ID = "lists.example.com"


@pytest.fixture(autouse=True)
def empty_stub_broker():
    broker.flush_all()
    yield
    broker.flush_all()


@pytest.fixture(scope="module")
def keys():
    return {"list": make_key(), "author": make_key(), "relay": make_key()}


@pytest.fixture
def sealing(settings, tmp_path, dns_server, keys):
    settings.DKIM_PRIVATE_KEY_FILE = write_key(tmp_path, keys["list"])
    settings.DKIM_SELECTOR = "mailman"
    settings.DKIM_DOMAIN = ""
    settings.ARC_SEAL = True
    settings.AUTHSERV_ID = AUTHSERV_ID
    publish(dns_server, keys["list"], "mailman", "example.com")
    publish(dns_server, keys["author"], "s1", "example.org")
    publish(dns_server, keys["relay"], "arc", "relay.test")
    return loopback_txt(dns_server)


@pytest.fixture
def ant(mlist):
    mlist.default_member_action = Action.ACCEPT
    mlist.save()
    for address in ["poster@example.org", *MEMBERS]:
        subscribe(mlist, address)
    return mlist


def signed_by_author(keys, msg=None) -> bytes:
    raw = message_bytes(msg or compose(sender="Poster <poster@example.org>"))
    return (
        dkim.sign(raw, b"s1", b"example.org", private_pem(keys["author"]), include_headers=[b"from", b"subject"]) + raw
    )


def post(mlist, raw: bytes):
    inbound = deliver(mlist, raw, mail_from="poster@example.org")
    for batch in inbound.post.batches.all():
        send_batch(batch.pk)
    return inbound


def arrived(smtpd, member=MEMBERS[0]) -> bytes:
    [copy] = smtpd.received_by(member)
    return copy.content


def header(content: bytes, name: str) -> str:
    return " ".join(email.message_from_bytes(content, policy=policy.compat32)[name].split())


def test_a_signed_post_is_sealed_with_dkim_pass(sealing, keys, ant, smtpd):
    post(ant, signed_by_author(keys))
    content = arrived(smtpd)
    chain, _results, reason = dkim.arc_verify(content, dnsfunc=sealing)
    assert chain == dkim.CV_Pass, reason
    results = header(content, "ARC-Authentication-Results")
    assert results.startswith(f"i=1; {AUTHSERV_ID};")
    assert "dkim=pass header.d=example.org header.s=s1" in results
    assert "cv=none" in header(content, "ARC-Seal")
    assert dkim.verify(content, dnsfunc=sealing)


def test_an_unsigned_post_is_sealed_with_dkim_none(sealing, ant, smtpd):
    post(ant, message_bytes(compose(sender="poster@example.org")))
    content = arrived(smtpd)
    assert dkim.arc_verify(content, dnsfunc=sealing)[0] == dkim.CV_Pass
    assert "dkim=none" in header(content, "ARC-Authentication-Results")


def test_a_signature_the_list_cannot_confirm_is_sealed_as_fail(sealing, keys, ant, smtpd):
    raw = signed_by_author(keys).replace(b"Hi all.", b"Hi all, changed on the way.")
    post(ant, raw)
    content = arrived(smtpd)
    assert dkim.arc_verify(content, dnsfunc=sealing)[0] == dkim.CV_Pass
    assert "dkim=fail header.d=example.org" in header(content, "ARC-Authentication-Results")


def test_a_post_with_an_arc_set_gets_the_next_instance(sealing, keys, ant, smtpd):
    # A relay before us checked the author's signature and sealed instance 1.
    raw = signed_by_author(keys)
    raw = b"Authentication-Results: relay.test; dkim=pass header.d=example.org\r\n" + raw
    relay_set = dkim.arc_sign(raw, b"arc", b"relay.test", private_pem(keys["relay"]), b"relay.test")
    raw = b"".join(relay_set) + raw
    assert dkim.arc_verify(raw, dnsfunc=sealing)[0] == dkim.CV_Pass
    post(ant, raw)
    content = arrived(smtpd)
    chain, results, reason = dkim.arc_verify(content, dnsfunc=sealing)
    assert chain == dkim.CV_Pass, reason
    assert [result["instance"] for result in results] == [2, 1]
    seals = email.message_from_bytes(content, policy=policy.compat32).get_all("ARC-Seal")
    ours = next(" ".join(seal.split()) for seal in seals if "i=2" in seal)
    assert "cv=pass" in ours and "d=example.com" in ours
    assert "arc=pass" in header(content, "ARC-Authentication-Results")


def test_results_forged_under_our_name_are_dropped(sealing, ant, smtpd):
    forged = f"Authentication-Results: {AUTHSERV_ID}; dkim=pass header.d=forged.test\r\n".encode()
    post(ant, forged + message_bytes(compose(sender="poster@example.org")))
    content = arrived(smtpd)
    assert b"forged.test" not in content
    assert dkim.arc_verify(content, dnsfunc=sealing)[0] == dkim.CV_Pass


def test_each_personalized_copy_is_sealed(sealing, keys, ant, smtpd):
    ant.personalize = Personalization.FULL
    ant.save()
    post(ant, signed_by_author(keys))
    for member in MEMBERS:
        content = arrived(smtpd, member)
        assert dkim.arc_verify(content, dnsfunc=sealing)[0] == dkim.CV_Pass
        assert dkim.verify(content, dnsfunc=sealing)
