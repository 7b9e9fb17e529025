"""DKIM signatures (RFC 6376) and ARC seals (RFC 8617) on outgoing list mail.

With DKIM_PRIVATE_KEY_FILE set, delivery makes one Signer per batch and
passes it every message as it will go on the wire; the signature covers
exactly those bytes. A bulk batch is signed once, a personalized copy once
per member. With ARC_SEAL, each copy is also sealed, with the results of
our own check of the post's incoming DKIM signatures (and ARC chain) as
they arrived, in an Authentication-Results header of AUTHSERV_ID.

The post's own DKIM-Signature headers are kept, as Mailman keeps them:
the list's changes break them, and a broken signature counts as none
(RFC 6376 section 6.1); receivers judge the list's own signature. An
Authentication-Results header that claims our AUTHSERV_ID but came with
the post is forged (RFC 8601 section 5) and is dropped before sealing.
"""

from __future__ import annotations

import logging
import os
import re
from functools import cache

import dkim
import dkim.util
import dns.exception
import dns.rdatatype
import dns.resolver
from django.conf import settings
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

from messages.dmarc import LookupFailed, resolver
from messages.models import InboundMessage, Post
from messages.smtp_client import CRLF

logger = logging.getLogger(__name__)

CANONICALIZATION = (b"relaxed", b"relaxed")
# RFC 8058 section 4: the one-click header must be signed; DKIM.SHOULD lacks it.
ALSO_SIGNED = {b"list-unsubscribe-post"}
# A post with more signatures than this has the rest left unchecked.
MAX_CHECKED_SIGNATURES = 5
# What we quote from a signature into Authentication-Results.
TOKEN = re.compile(rb"[A-Za-z0-9._-]{1,253}")
FIELD = re.compile(rb"[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*")


class SigningKeyError(Exception):
    """DKIM_PRIVATE_KEY_FILE cannot be read as a PEM RSA private key."""


class Signer:
    """Signs (and seals) the messages of one batch of one post."""

    def __init__(self, selector: bytes, domain: bytes, key: bytes, results: bytes | None = None):
        self.selector = selector
        self.domain = domain
        self.key = key
        # The Authentication-Results value to seal with; None: no sealing.
        self.results = results

    def prepare(self, raw: bytes) -> bytes:
        """The stored post `raw` ready to be signed: without forged results of ours."""
        if self.results is None:
            return raw
        return without_own_results(raw, settings.AUTHSERV_ID.encode())

    def sign(self, data: bytes) -> bytes:
        """`data` (a message in wire form, see smtp_client.wire_data) with
        our DKIM-Signature, and with ARC_SEAL our ARC set, on top."""
        message = unstuffed(data)
        added = b""
        if self.results is not None:
            added = b"Authentication-Results: " + self.results + CRLF
            message = added + message
            seal = b"".join(dkim.arc_sign(message, self.selector, self.domain, self.key, settings.AUTHSERV_ID.encode()))
            added = seal + added
            message = seal + message
        signing = dkim.DKIM(message, linesep=CRLF)
        signing.should_sign |= ALSO_SIGNED
        signature = signing.sign(
            self.selector,
            self.domain,
            self.key,
            canonicalize=CANONICALIZATION,
            include_headers=signing.default_sign_headers(),
        )
        # Header lines never start with ".", so they need no dot-stuffing.
        return signature + added + data


def signer_for(post: Post) -> Signer | None:
    """The Signer for the copies of `post`, or None when signing is off."""
    path = settings.DKIM_PRIVATE_KEY_FILE
    if not path:
        return None
    domain = settings.DKIM_DOMAIN or post.mailing_list.domain.mail_host
    results = authentication_results(post.inbound_id) if settings.ARC_SEAL else None
    return Signer(settings.DKIM_SELECTOR.encode(), domain.encode("idna"), private_key(path), results)


def private_key(path: str) -> bytes:
    """The PEM key in `path`, read again when the file changes."""
    try:
        changed = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise SigningKeyError(f"DKIM_PRIVATE_KEY_FILE {path}: {exc}") from exc
    return read_key(path, changed)


@cache
def read_key(path: str, changed: int) -> bytes:
    try:
        with open(path, "rb") as file:
            pem = file.read().replace(b"\r\n", b"\n")
        parse_pem_private_key(pem)
    except (OSError, UnparsableKeyError) as exc:
        raise SigningKeyError(f"DKIM_PRIVATE_KEY_FILE {path}: {exc}") from exc
    return pem


def unstuffed(data: bytes) -> bytes:
    """Wire data without its dot-stuffing (RFC 5321 section 4.5.2): the message itself."""
    if data.startswith(b".."):
        data = data[1:]
    return data.replace(b"\r\n..", b"\r\n.")


def without_own_results(raw: bytes, authserv_id: bytes) -> bytes:
    """`raw` (CRLF line ends) without Authentication-Results fields of `authserv_id`."""
    end = raw.find(b"\r\n\r\n")
    head, body = (raw[: end + 2], raw[end + 2 :]) if end >= 0 else (raw, b"")
    if b"authentication-results" not in head.lower():
        return raw
    kept = [field for field in FIELD.findall(head) if not is_own_result(field, authserv_id)]
    return b"".join(kept) + body


def is_own_result(field: bytes, authserv_id: bytes) -> bool:
    name, _colon, value = field.partition(b":")
    if name.strip().lower() != b"authentication-results":
        return False
    # RFC 8601 section 2.2: the authserv-id, perhaps a version, then ";".
    words = value.split(b";", 1)[0].split()
    return bool(words) and words[0].lower() == authserv_id.lower()


def authentication_results(inbound_id: int | None) -> bytes:
    """Our Authentication-Results value for the post as it arrived: each of
    its DKIM signatures checked (RFC 8601 section 2.7.1) and, when it came
    with ARC sets, its chain (RFC 8617 section 5.2)."""
    raw = InboundMessage.objects.filter(pk=inbound_id).values_list("raw", flat=True).first()
    try:
        results = incoming_results(bytes(raw)) if raw is not None else []
    except Exception:
        # dkimpy parses what a stranger sent; whatever it trips over must not stop delivery.
        logger.exception("Checking the DKIM signatures of inbound message %s failed", inbound_id)
        results = [b"dkim=permerror"]
    return settings.AUTHSERV_ID.encode() + b"; " + (b";\r\n ".join(results) or b"none")


def incoming_results(raw: bytes) -> list[bytes]:
    checker = dkim.DKIM(raw, timeout=settings.DNS_TIMEOUT)
    signatures = [value for name, value in checker.headers if name.lower() == b"dkim-signature"]
    results = []
    for index, signature in enumerate(signatures[:MAX_CHECKED_SIGNATURES]):
        try:
            outcome = b"pass" if checker.verify(idx=index, dnsfunc=txt_record) else b"fail"
        except dkim.DnsTimeoutError:
            outcome = b"temperror"
        except dkim.ValidationError:
            # The body hash does not match (or a tag is wrong): it does not verify.
            outcome = b"fail"
        except dkim.DKIMException:
            outcome = b"permerror"
        results.append(b"dkim=" + outcome + signature_properties(signature))
    if not signatures:
        results.append(b"dkim=none")
    if any(name.lower() == b"arc-seal" for name, _value in checker.headers):
        chain, _details, _reason = dkim.arc_verify(raw, dnsfunc=txt_record, timeout=settings.DNS_TIMEOUT)
        results.append(b"arc=" + chain)
    return results


def signature_properties(signature: bytes) -> bytes:
    """The header.d and header.s properties of a DKIM-Signature value, where they are plain tokens."""
    try:
        tags = dkim.util.parse_tag_value(signature)
    except dkim.util.InvalidTagValueList:
        return b""
    return b"".join(b" header." + tag + b"=" + tags[tag] for tag in (b"d", b"s") if TOKEN.fullmatch(tags.get(tag, b"")))


def txt_record(name: bytes, timeout: float = 5) -> bytes | None:
    """The first TXT record at `name`, its strings joined, through the
    site's resolver (DNS_RESOLVERS): dkimpy's `dnsfunc` for public keys."""
    try:
        answer = resolver().resolve(
            name.decode("ascii"), dns.rdatatype.TXT, lifetime=min(timeout, settings.DNS_TIMEOUT), search=False
        )
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, UnicodeError):
        return None
    except (dns.exception.DNSException, LookupFailed) as exc:
        raise dkim.DnsTimeoutError(f"TXT {name!r}: {exc}") from exc
    for rdata in answer:
        return b"".join(rdata.strings)
    return None
