"""RSA keys made in the test, their public halves published on the
loopback DNS server, and a DNS lookup for dkimpy's verify that asks that
server directly (not through the code under test)."""

import base64
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def make_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#1 PEM, the form dkimpy reads."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def key_record(key: rsa.RSAPrivateKey) -> str:
    """The DKIM key record (RFC 6376 section 3.6.1) for `key`."""
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()


def publish(dns_server, key: rsa.RSAPrivateKey, selector: str, domain: str) -> None:
    dns_server.txt(f"{selector}._domainkey.{domain}", key_record(key))


def write_key(directory: Path, key: rsa.RSAPrivateKey) -> str:
    path = directory / "dkim.pem"
    path.write_bytes(private_pem(key))
    return str(path)


def loopback_txt(dns_server):
    """A dnsfunc for dkim.verify and dkim.arc_verify that asks `dns_server`."""

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        query = dns.message.make_query(name.decode(), dns.rdatatype.TXT)
        response = dns.query.udp(query, "127.0.0.1", port=dns_server.port, timeout=timeout)
        for rrset in response.answer:
            for rdata in rrset:
                return b"".join(rdata.strings)
        return None

    return lookup
