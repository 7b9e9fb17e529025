"""DMARC mitigation through the real pipeline: the dmarc-mitigation rule
rejects or discards, the dmarc handler munges From or wraps the post, and
what arrives at an SMTP server on loopback shows it. DMARC records come
from a DNS server on loopback."""

import email
from email import policy

import pytest

from lists.models import Action, DmarcMitigation, Personalization, ReplyToPolicy
from mailman_site.broker import broker
from members.services import subscribe
from messages import moderation
from messages.delivery import send_batch
from messages.models import InboundStatus, Post
from messages.pipeline.mime import parse_message
from tests.inbound_mail import compose, deliver

pytest.register_assert_rewrite("tests.dns_server", "tests.delivery_support")
from tests.dns_server import closed_udp_port  # noqa: E402

pytest_plugins = ["tests.dns_server", "tests.delivery_support"]

AUTHOR = "jane@strict.test"


@pytest.fixture(autouse=True)
def empty_stub_broker():
    broker.flush_all()
    yield
    broker.flush_all()


@pytest.fixture
def dns(dns_server):
    dns_server.txt("_dmarc.strict.test", "v=DMARC1; p=reject")
    dns_server.txt("_dmarc.careful.test", "v=DMARC1; p=quarantine")
    return dns_server


@pytest.fixture
def ant(mlist):
    mlist.default_member_action = Action.ACCEPT
    mlist.save()
    for address in (AUTHOR, "joe@careful.test", "reader@example.org", "bob@nothing.test"):
        subscribe(mlist, address)
    return mlist


def configure(mlist, **fields):
    for name, value in fields.items():
        setattr(mlist, name, value)
    mlist.save()
    return mlist


def post(mlist, sender=f"Jane Doe <{AUTHOR}>", **headers):
    """Post to `mlist` from `sender`, send the batches; the inbound row."""
    inbound = deliver(mlist, compose(sender=sender, **headers), mail_from=email.utils.parseaddr(sender)[1])
    if inbound.status == InboundStatus.ACCEPTED:
        for batch in inbound.post.batches.all():
            send_batch(batch.pk)
    return inbound


def received(smtpd, address="reader@example.org") -> email.message.EmailMessage:
    [arrived] = smtpd.received_by(address)
    return email.message_from_bytes(arrived.content, policy=policy.default)


# The rule


def test_p_reject_from_domain_is_rejected_with_the_lists_notice(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.REJECT, dmarc_moderation_notice="Use another address.")
    inbound = post(ant)
    assert inbound.status == InboundStatus.REJECTED
    [notice] = smtpd.received_by(AUTHOR)
    assert b"Use another address." in notice.content
    assert not smtpd.received_by("reader@example.org")


def test_the_default_rejection_names_the_policy_and_the_owner(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.REJECT)
    assert post(ant).status == InboundStatus.REJECTED
    [notice] = smtpd.received_by(AUTHOR)
    text = email.message_from_bytes(notice.content, policy=policy.default).get_body(("plain",)).get_content()
    assert "DMARC policy of reject or quarantine" in text
    assert "ant-owner@example.com" in text


def test_p_reject_from_domain_is_discarded_when_the_list_says_so(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.DISCARD)
    assert post(ant).status == InboundStatus.DISCARDED
    assert smtpd.arrived == []


def test_p_quarantine_is_rejected_unless_the_list_leaves_it_out(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.REJECT)
    assert post(ant, sender="joe@careful.test").status == InboundStatus.REJECTED
    configure(ant, dmarc_quarantine_moderation_action=False)
    assert post(ant, sender="joe@careful.test").status == InboundStatus.ACCEPTED


def test_a_post_a_moderator_released_is_not_refused_again(dns, mlist, owner, smtpd):
    subscribe(mlist, "reader@example.org")
    held = post(mlist, sender="Stranger <stranger@strict.test>").held
    configure(mlist, dmarc_mitigate_action=DmarcMitigation.REJECT)
    assert moderation.approve(held, owner) is not None
    held.inbound.refresh_from_db()
    assert held.inbound.status == InboundStatus.ACCEPTED


def test_a_domain_without_policy_posts_as_usual(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.REJECT)
    assert post(ant, sender="bob@nothing.test").status == InboundStatus.ACCEPTED
    assert received(smtpd)["From"] == "bob@nothing.test"


# The handler: munge_from


def test_munged_from_names_the_author_via_the_list_and_reply_to_the_author(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.MUNGE_FROM)
    inbound = post(ant)
    assert inbound.status == InboundStatus.ACCEPTED
    copy = received(smtpd)
    assert copy["From"].addresses[0].display_name == "Jane Doe via Ant"
    assert copy["From"].addresses[0].addr_spec == "ant@example.com"
    assert [a.addr_spec for a in copy["Reply-To"].addresses] == [AUTHOR]
    stored = inbound.post
    assert stored.dmarc_mitigation == DmarcMitigation.MUNGE_FROM
    assert AUTHOR in parse_message(bytes(stored.raw))["From"], "the archive's copy keeps its author"


def test_the_policy_is_looked_up_once_per_post_before_it_is_stored(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.MUNGE_FROM)
    post(ant)
    # The rule asked DNS; the handler, in the storing transaction, used the cache.
    assert dns.queries["_dmarc.strict.test"] == 1
    assert received(smtpd)["From"].addresses[0].addr_spec == "ant@example.com"


def test_the_archive_keeps_the_authors_from(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.MUNGE_FROM)
    inbound = post(ant)
    stored = email.message_from_bytes(bytes(Post.objects.get(inbound=inbound).raw), policy=policy.default)
    assert stored["From"] == f"Jane Doe <{AUTHOR}>"
    assert "Reply-To" not in stored


def test_the_authors_reply_to_is_kept_beside_the_author(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.MUNGE_FROM)
    post(ant, Reply_To="Jane at home <jane@home.test>")
    addresses = [a.addr_spec for a in received(smtpd)["Reply-To"].addresses]
    assert addresses == ["jane@home.test", AUTHOR]


def test_when_replies_go_to_the_list_the_author_goes_in_cc(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.MUNGE_FROM, reply_goes_to_list=ReplyToPolicy.POINT_TO_LIST)
    post(ant, Cc="friend@example.net")
    copy = received(smtpd)
    assert [a.addr_spec for a in copy["Cc"].addresses] == ["friend@example.net", AUTHOR]
    assert [a.addr_spec for a in copy["Reply-To"].addresses] == ["ant@example.com"]


def test_a_non_ascii_display_name_is_sent_in_encoded_words(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.MUNGE_FROM, display_name="Fourmis")
    post(ant, sender=f"Zoë Müller <{AUTHOR}>")
    [arrived] = smtpd.received_by("reader@example.org")
    from_line = next(line for line in arrived.content.split(b"\r\n") if line.startswith(b"From:"))
    assert from_line.isascii() and b"=?utf-8?" in from_line.lower()
    assert received(smtpd)["From"].addresses[0].display_name == "Zoë Müller via Fourmis"


def test_an_encoded_display_name_is_decoded_before_it_is_reused(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.MUNGE_FROM)
    post(ant, sender=f"=?iso-8859-1?q?Jos=E9?= <{AUTHOR}>")
    assert received(smtpd)["From"].addresses[0].display_name == "José via Ant"


def test_without_display_name_the_address_stands_in_without_its_domain(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.MUNGE_FROM)
    post(ant, sender=AUTHOR)
    # Mailman's wording: no second domain in the From.
    assert received(smtpd)["From"].addresses[0].display_name == "jane--- via Ant"


def test_posts_from_domains_without_policy_are_not_munged(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.MUNGE_FROM)
    post(ant, sender="Bob <bob@nothing.test>")
    assert received(smtpd)["From"] == "Bob <bob@nothing.test>"


def test_unconditional_mitigation_munges_every_post(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.MUNGE_FROM, dmarc_mitigate_unconditionally=True)
    post(ant, sender="Bob <bob@nothing.test>")
    assert received(smtpd)["From"].addresses[0].display_name == "Bob via Ant"


def test_a_personalized_list_sends_each_member_the_munged_from(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.MUNGE_FROM, personalize=Personalization.FULL)
    post(ant)
    for address in ("reader@example.org", "bob@nothing.test"):
        copy = received(smtpd, address)
        assert copy["To"] == address
        assert copy["From"].addresses[0].addr_spec == "ant@example.com"


def test_when_dns_is_down_the_post_goes_out_unchanged(settings, empty_cache, ant, smtpd):
    settings.DNS_RESOLVERS = [f"127.0.0.1:{closed_udp_port()}"]
    settings.DNS_TIMEOUT = 1
    configure(ant, dmarc_mitigate_action=DmarcMitigation.MUNGE_FROM)
    assert post(ant).status == InboundStatus.ACCEPTED
    assert received(smtpd)["From"] == f"Jane Doe <{AUTHOR}>"


# The handler: wrap_message


def test_a_wrapped_post_is_an_rfc822_part_after_the_lists_text(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.WRAP_MESSAGE, dmarc_wrapped_message_text="Wrapped: DMARC.")
    post(ant, sender=f"Zoë <{AUTHOR}>", subject="Ants")
    copy = received(smtpd)
    assert copy.get_content_type() == "multipart/mixed"
    assert copy["From"].addresses[0].display_name == "Zoë via Ant"
    assert copy["Subject"] == "[ant] Ants"
    assert [a.addr_spec for a in copy["Reply-To"].addresses] == [AUTHOR]
    text, wrapped = copy.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().strip() == "Wrapped: DMARC."
    assert wrapped.get_content_type() == "message/rfc822"
    inner = wrapped.get_content()
    assert inner["From"] == f"Zoë <{AUTHOR}>"
    assert inner["Message-ID"] != copy["Message-ID"]
    assert "Hi all." in inner.get_body(("plain",)).get_content()


def test_every_batch_sends_the_same_wrapper(dns, ant, smtpd, settings):
    settings.DELIVERY_BATCH_SIZE = 1
    configure(ant, dmarc_mitigate_action=DmarcMitigation.WRAP_MESSAGE)
    inbound = post(ant)
    assert inbound.post.batches.count() > 1
    message_ids = {received(smtpd, address)["Message-ID"] for address in ("reader@example.org", "bob@nothing.test")}
    assert message_ids == {f"<ant.{inbound.post.pk}.wrapped@example.com>"}


def test_a_wrapped_post_without_text_is_the_rfc822_message_alone(dns, ant, smtpd):
    configure(ant, dmarc_mitigate_action=DmarcMitigation.WRAP_MESSAGE)
    post(ant)
    copy = received(smtpd)
    assert copy.get_content_type() == "message/rfc822"
    assert copy.get_content()["From"] == f"Jane Doe <{AUTHOR}>"
    # The wrapper is still list mail: the loop rule finds our X-BeenThere on it.
    assert copy["X-BeenThere"] == "ant@example.com"
    assert copy["List-Id"]
