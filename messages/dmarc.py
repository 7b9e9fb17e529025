"""The DMARC policy of a From domain (RFC 7489), and whether a list mitigates it.

A lookup asks DNS for the TXT records of _dmarc.<domain> and, when the
domain publishes none, of _dmarc.<organizational domain> (section 6.6.3),
the organizational domain being found with the Public Suffix List
(section 3.2). Answers are kept in Django's cache for DMARC_CACHE_SECONDS,
"no record" included. A DNS failure is Policy.UNKNOWN: logged, never
raised, remembered only briefly, and it calls for no mitigation. All the
lookups for one address together take at most DNS_TIMEOUT seconds.
"""

from __future__ import annotations

import hashlib
import logging
import time
from enum import StrEnum
from functools import cache

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
from django.conf import settings
from django.core.cache import cache as django_cache
from publicsuffixlist import PublicSuffixList

from lists.models import DmarcMitigation, MailingList

logger = logging.getLogger(__name__)

# A failed lookup is tried again after this long (or DMARC_CACHE_SECONDS, if
# shorter): during an outage, posts do not each wait DNS_TIMEOUT seconds.
FAILURE_CACHE_SECONDS = 60


class Policy(StrEnum):
    """What a domain asks receivers to do with mail that fails DMARC."""

    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"
    # No DMARC record applies to the domain.
    ABSENT = "absent"
    # DNS did not answer (timeout, no server, SERVFAIL): we cannot tell.
    UNKNOWN = "unknown"


POLICY_VALUES = {"none": Policy.NONE, "quarantine": Policy.QUARANTINE, "reject": Policy.REJECT}


class LookupFailed(Exception):
    """DNS gave no answer, or DNS_RESOLVERS names no usable server."""


def mitigation_applies(mlist: MailingList, address: str) -> bool:
    """The list's DMARC mitigation is due for a post From `address`: its
    domain's policy is one the list's triggers name.

    As in Mailman (and Mailman 2.1's dmarc_none_moderation_action), p=none
    counts only when p=quarantine does too, and only for munge_from and
    wrap_message: nobody's post is rejected for a policy that asks for nothing.
    """
    if mlist.dmarc_mitigate_action == DmarcMitigation.NO_MITIGATION:
        return False
    policy = address_policy(address)
    if policy is Policy.REJECT:
        return True
    if policy is Policy.QUARANTINE:
        return mlist.dmarc_quarantine_moderation_action
    if policy is Policy.NONE:
        return (
            mlist.dmarc_none_moderation_action
            and mlist.dmarc_quarantine_moderation_action
            and mlist.dmarc_mitigate_action in (DmarcMitigation.MUNGE_FROM, DmarcMitigation.WRAP_MESSAGE)
        )
    return False


def address_policy(address: str) -> Policy:
    """The DMARC policy of the domain of `address` (an addr-spec)."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return Policy.ABSENT
    return domain_policy(domain)


def domain_policy(domain: str) -> Policy:
    """The DMARC policy that applies to mail From `domain`, cached."""
    domain = domain.strip().rstrip(".").lower()
    key = "dmarc-policy:" + hashlib.sha256(domain.encode("utf-8", "surrogateescape")).hexdigest()
    cached = django_cache.get(key)
    if cached is not None:
        return Policy(cached)
    policy = look_up(domain)
    seconds = settings.DMARC_CACHE_SECONDS
    if policy is Policy.UNKNOWN:
        seconds = min(seconds, FAILURE_CACHE_SECONDS)
    django_cache.set(key, policy.value, seconds)
    return policy


def look_up(domain: str) -> Policy:
    """RFC 7489 section 6.6.3, without the cache."""
    deadline = time.monotonic() + settings.DNS_TIMEOUT
    try:
        name = dns.name.from_text(f"_dmarc.{domain}")
        record = dmarc_record(name, deadline)
        if record is not None:
            return record_policy(record, subdomain=False)
        organizational = organizational_domain(domain)
        if organizational == domain:
            return Policy.ABSENT
        record = dmarc_record(dns.name.from_text(f"_dmarc.{organizational}"), deadline)
        if record is not None:
            return record_policy(record, subdomain=True)
        return Policy.ABSENT
    except (dns.exception.SyntaxError, dns.name.NameTooLong, dns.name.EmptyLabel, UnicodeError, ValueError):
        # Not a domain DNS can be asked about, so no policy can apply.
        logger.info("DMARC: %r is no domain name", domain)
        return Policy.ABSENT
    except LookupFailed as exc:
        logger.warning("DMARC lookup for %s failed, no mitigation: %s", domain, exc)
        return Policy.UNKNOWN


def dmarc_record(name: dns.name.Name, deadline: float) -> dict[str, str] | None:
    """The tags of the one DMARC record at `name`, or None when there is
    none (or several: section 6.6.3 step 5 then applies no policy)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise LookupFailed("DNS_TIMEOUT passed")
    try:
        answer = resolver().resolve(name, dns.rdatatype.TXT, lifetime=remaining, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    except dns.exception.DNSException as exc:
        raise LookupFailed(f"{type(exc).__name__}: {exc}") from exc
    records = []
    for rdata in answer:
        text = b"".join(rdata.strings).decode("utf-8", "replace")
        tags = parse_tags(text)
        # Section 6.6.3 step 3: only records that start with v=DMARC1 count.
        if tags and next(iter(tags.items())) == ("v", "DMARC1"):
            records.append(tags)
    if len(records) > 1:
        logger.info("DMARC: %s publishes %d records, so no policy applies", name, len(records))
        return {}
    return records[0] if records else None


def parse_tags(text: str) -> dict[str, str]:
    """Tag=value pairs of a DMARC record (section 6.4), in order; later
    duplicates ignored, a malformed record read as far as it makes sense."""
    tags: dict[str, str] = {}
    for item in text.split(";"):
        tag, equals, value = item.partition("=")
        tag = tag.strip().lower()
        if equals and tag and tag not in tags:
            tags[tag] = value.strip()
    return tags


def record_policy(tags: dict[str, str], *, subdomain: bool) -> Policy:
    """The policy a record sets; `subdomain` when it was found at the
    organizational domain, so sp= (else p=) applies (section 6.3)."""
    if not tags:
        return Policy.ABSENT
    policy = POLICY_VALUES.get(tags.get("p", "").lower())
    if subdomain and "sp" in tags:
        policy = POLICY_VALUES.get(tags["sp"].lower()) if policy else None
    if policy is None:
        # Section 6.6.3 step 6: an invalid p= or sp= reads as p=none when
        # the record asks for reports, else no policy applies.
        return Policy.NONE if tags.get("rua") else Policy.ABSENT
    return policy


def organizational_domain(domain: str) -> str:
    """The registered domain under a public suffix (section 3.2); `domain`
    itself when it is a public suffix or unknown to the list."""
    return public_suffix_list().privatesuffix(domain) or domain


@cache
def public_suffix_list() -> PublicSuffixList:
    # The copy the package ships; the package is released with each list update.
    return PublicSuffixList()


def resolver() -> dns.resolver.Resolver:
    """A resolver for DNS_RESOLVERS (else the system's), DNS_TIMEOUT a try."""
    servers = tuple(settings.DNS_RESOLVERS)
    try:
        return configured_resolver(servers, settings.DNS_TIMEOUT)
    except ValueError as exc:
        raise LookupFailed(f"DNS_RESOLVERS {list(servers)}: {exc}") from exc


@cache
def configured_resolver(servers: tuple[str, ...], timeout: float) -> dns.resolver.Resolver:
    result = dns.resolver.Resolver(configure=not servers)
    if servers:
        result.nameservers = [dns.nameserver.Do53Nameserver(*host_and_port(server)) for server in servers]
    result.timeout = timeout
    result.lifetime = timeout
    return result


def host_and_port(server: str) -> tuple[str, int]:
    """Split "host", "host:port", "[v6]:port" or a bare IPv6 address into (host, port)."""
    server = server.strip()
    if server.startswith("["):
        host, _bracket, rest = server[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if server.count(":") == 1:
        host, port = server.split(":")
        return host, int(port)
    return server, 53
