"""The From domain's DMARC policy (RFC 7489), looked up on a loopback DNS server."""

import pytest

from lists.models import DmarcMitigation
from messages.dmarc import Policy, address_policy, domain_policy, host_and_port, mitigation_applies

pytest.register_assert_rewrite("tests.dns_server")
from tests.dns_server import closed_udp_port  # noqa: E402

pytest_plugins = ["tests.dns_server"]


def test_p_reject_is_read(dns_server):
    dns_server.txt("_dmarc.strict.test", "v=DMARC1; p=reject; rua=mailto:d@strict.test")
    assert domain_policy("strict.test") is Policy.REJECT


def test_p_quarantine_and_p_none_are_read(dns_server):
    dns_server.txt("_dmarc.careful.test", "v=DMARC1; p=quarantine")
    dns_server.txt("_dmarc.relaxed.test", "v=DMARC1;p=none")
    assert domain_policy("careful.test") is Policy.QUARANTINE
    assert domain_policy("relaxed.test") is Policy.NONE


def test_tags_and_values_are_read_without_regard_to_case_and_spaces(dns_server):
    dns_server.txt("_dmarc.shouty.test", "v=DMARC1 ;  P = Reject ; pct=100")
    assert domain_policy("SHOUTY.test.") is Policy.REJECT


def test_a_subdomain_without_record_takes_the_organizational_domains_sp(dns_server):
    dns_server.txt("_dmarc.parent.test", "v=DMARC1; p=reject; sp=none")
    assert domain_policy("mail.parent.test") is Policy.NONE
    assert dns_server.queries["_dmarc.mail.parent.test"] == 1
    assert dns_server.queries["_dmarc.parent.test"] == 1
    # The organizational domain itself is under p=.
    assert domain_policy("parent.test") is Policy.REJECT


def test_a_subdomain_takes_the_organizational_p_when_there_is_no_sp(dns_server):
    dns_server.txt("_dmarc.parent.test", "v=DMARC1; p=quarantine")
    assert domain_policy("a.b.parent.test") is Policy.QUARANTINE


def test_the_organizational_domain_comes_from_the_public_suffix_list(dns_server):
    # co.uk is a public suffix: the organizational domain of mail.example.co.uk is example.co.uk.
    dns_server.txt("_dmarc.example.co.uk", "v=DMARC1; p=reject")
    assert domain_policy("mail.example.co.uk") is Policy.REJECT
    assert "_dmarc.co.uk" not in dns_server.queries


def test_a_subdomains_own_record_wins_and_its_sp_does_not_apply(dns_server):
    dns_server.txt("_dmarc.parent.test", "v=DMARC1; p=reject")
    dns_server.txt("_dmarc.lists.parent.test", "v=DMARC1; p=none; sp=reject")
    assert domain_policy("lists.parent.test") is Policy.NONE
    assert "_dmarc.parent.test" not in dns_server.queries


def test_no_record_anywhere_is_absent(dns_server):
    assert domain_policy("nothing.test") is Policy.ABSENT
    assert domain_policy("sub.nothing.test") is Policy.ABSENT


def test_txt_records_that_are_not_dmarc_are_ignored(dns_server):
    dns_server.txt("_dmarc.spf.test", "v=spf1 -all", "p=reject")
    assert domain_policy("spf.test") is Policy.ABSENT


@pytest.mark.parametrize(
    "garbage",
    ["v=DMARC1; p=sometimes", "v=DMARC1", "p=reject; v=DMARC1", "v=DMARC1;;;==;p", "\x00\xff v=DMARC1; p=reject"],
)
def test_garbage_records_set_no_policy(dns_server, garbage):
    dns_server.txt("_dmarc.garbage.test", garbage)
    assert domain_policy("garbage.test") is Policy.ABSENT


def test_an_invalid_p_with_a_report_address_reads_as_none(dns_server):
    # RFC 7489 section 6.6.3 step 6.
    dns_server.txt("_dmarc.typo.test", "v=DMARC1; p=rejekt; rua=mailto:reports@typo.test")
    assert domain_policy("typo.test") is Policy.NONE


def test_two_dmarc_records_set_no_policy(dns_server):
    # RFC 7489 section 6.6.3 step 5: more than one record, no DMARC processing.
    dns_server.txt("_dmarc.twice.test", "v=DMARC1; p=reject", "v=DMARC1; p=none")
    assert domain_policy("twice.test") is Policy.ABSENT


def test_a_second_lookup_is_answered_from_the_cache(dns_server):
    dns_server.txt("_dmarc.strict.test", "v=DMARC1; p=reject")
    assert domain_policy("strict.test") is Policy.REJECT
    assert domain_policy("strict.test") is Policy.REJECT
    assert dns_server.queries["_dmarc.strict.test"] == 1


def test_no_record_is_cached_too(dns_server):
    assert domain_policy("sub.nothing.test") is Policy.ABSENT
    assert domain_policy("sub.nothing.test") is Policy.ABSENT
    assert dns_server.queries["_dmarc.sub.nothing.test"] == 1
    assert dns_server.queries["_dmarc.nothing.test"] == 1


def test_a_dns_server_that_is_down_means_unknown_and_no_mitigation(settings, empty_cache, mlist, caplog):
    settings.DNS_RESOLVERS = [f"127.0.0.1:{closed_udp_port()}"]
    settings.DNS_TIMEOUT = 2
    mlist.dmarc_mitigate_action = DmarcMitigation.MUNGE_FROM
    assert domain_policy("strict.test") is Policy.UNKNOWN
    assert "DMARC lookup for strict.test failed" in caplog.text
    assert not mitigation_applies(mlist, "someone@elsewhere.test")


def test_addresses_without_domain_or_with_a_bad_one_have_no_policy(dns_server):
    assert address_policy("nobody") is Policy.ABSENT
    assert address_policy("@strict.test") is Policy.ABSENT
    assert address_policy("x@" + "a" * 70 + ".test") is Policy.ABSENT
    assert address_policy("x@dots..test") is Policy.ABSENT


def test_triggers_follow_the_lists_settings(dns_server, mlist):
    dns_server.txt("_dmarc.strict.test", "v=DMARC1; p=reject")
    dns_server.txt("_dmarc.careful.test", "v=DMARC1; p=quarantine")
    dns_server.txt("_dmarc.relaxed.test", "v=DMARC1; p=none")
    mlist.dmarc_mitigate_action = DmarcMitigation.MUNGE_FROM
    assert mitigation_applies(mlist, "a@strict.test")
    assert mitigation_applies(mlist, "a@careful.test")
    assert not mitigation_applies(mlist, "a@relaxed.test")
    assert not mitigation_applies(mlist, "a@nothing.test")
    mlist.dmarc_none_moderation_action = True
    assert mitigation_applies(mlist, "a@relaxed.test")
    mlist.dmarc_quarantine_moderation_action = False
    assert not mitigation_applies(mlist, "a@careful.test")
    # p=none counts only along with p=quarantine (Mailman's rule).
    assert not mitigation_applies(mlist, "a@relaxed.test")
    mlist.dmarc_mitigate_action = DmarcMitigation.NO_MITIGATION
    assert not mitigation_applies(mlist, "a@strict.test")


def test_p_none_never_rejects(dns_server, mlist):
    dns_server.txt("_dmarc.relaxed.test", "v=DMARC1; p=none")
    mlist.dmarc_mitigate_action = DmarcMitigation.REJECT
    mlist.dmarc_none_moderation_action = True
    assert not mitigation_applies(mlist, "a@relaxed.test")


@pytest.mark.parametrize(
    ("server", "expected"),
    [("10.0.0.1", ("10.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)), ("[::1]:5353", ("::1", 5353))],
)
def test_resolver_addresses_may_carry_a_port(server, expected):
    assert host_and_port(server) == expected


def test_a_resolver_setting_that_makes_no_sense_means_unknown(settings, empty_cache):
    settings.DNS_RESOLVERS = ["127.0.0.1:notaport"]
    assert domain_policy("strict.test") is Policy.UNKNOWN
