"""A DNS server on loopback serving fixed TXT records, for the DMARC and
DKIM tests: never the internet.

`dns_server` starts dnslib's DNSServer (UDP, a free port) in a thread,
points DNS_RESOLVERS at it and empties the DMARC cache; tests add records
with `server.txt(name, text)` and read `server.queries` to see what was asked.
"""

import socket
import threading
from collections import Counter

import pytest
from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer

# One TXT string carries at most 255 bytes (RFC 1035 section 3.3.14).
TXT_STRING = 255


class FixedResolver(BaseResolver):
    """Answers TXT questions from `records`; every other name is NXDOMAIN."""

    def __init__(self):
        self.records: dict[str, list[str]] = {}
        self.queries: Counter[str] = Counter()
        self.lock = threading.Lock()

    def resolve(self, request, handler):
        name = str(request.q.qname).rstrip(".").lower()
        with self.lock:
            self.queries[name] += 1
            texts = list(self.records.get(name, ()))
        reply = request.reply()
        if not texts and not any(known.endswith("." + name) for known in self.records):
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if request.q.qtype == QTYPE.TXT:
            for text in texts:
                chunks = [text[start : start + TXT_STRING] for start in range(0, len(text), TXT_STRING)] or [""]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        return reply


class LoopbackDNS:
    def __init__(self):
        self.resolver = FixedResolver()
        self.server = DNSServer(
            self.resolver, port=0, address="127.0.0.1", logger=DNSLogger(log="-request,-reply,-truncated,-error")
        )
        self.port = self.server.server.server_address[1]
        self.server.start_thread()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def queries(self) -> Counter[str]:
        return self.resolver.queries

    def txt(self, name: str, *texts: str) -> None:
        """Serve `texts` (one TXT record each) at `name`."""
        with self.resolver.lock:
            self.resolver.records.setdefault(name.lower(), []).extend(texts)

    def stop(self) -> None:
        self.server.stop()
        self.server.server.server_close()


def closed_udp_port() -> int:
    """A loopback UDP port nobody listens on (bound, then let go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def empty_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dns_server(settings, empty_cache):
    """A loopback DNS server, set as the site's only resolver."""
    server = LoopbackDNS()
    settings.DNS_RESOLVERS = [server.address]
    settings.DNS_TIMEOUT = 5
    yield server
    server.stop()
