"""Benchmark: the CPU cost of DKIM signing and ARC sealing one outgoing copy.

    .venv/bin/python benchmarks/dkim_sign.py [--copies 200]

Signs a corpus message in wire form with messages.dkim_signing.Signer, as
delivery does for each bulk batch or personalized copy, with a fresh
2048-bit RSA key: first DKIM alone, then DKIM with an ARC seal. Reports CPU
milliseconds per copy (process time, so other load on the machine does not
count) as one JSON line.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
CORPUS = BASE_DIR.parent / "shared" / "corpus" / "mime" / "msg_01.txt"


def cpu_ms_per_copy(sign, data: bytes, copies: int) -> float:
    start = time.process_time()
    for _ in range(copies):
        sign(data)
    return (time.process_time() - start) * 1000 / copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=200)
    copies = parser.parse_args().copies
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailman_site.settings")
    import django

    django.setup()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.conf import settings

    from messages.dkim_signing import Signer
    from messages.smtp_client import wire_data

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    data = wire_data(CORPUS.read_bytes())
    settings.AUTHSERV_ID = "lists.example.com"
    dkim_only = Signer(b"mailman", b"example.com", key)
    sealing = Signer(b"mailman", b"example.com", key, b"lists.example.com; dkim=pass header.d=example.org")
    assert b"ARC-Seal" in sealing.sign(data)
    result = {
        "message_bytes": len(data),
        "dkim_ms": round(cpu_ms_per_copy(dkim_only.sign, data, copies), 2),
        "dkim_and_arc_ms": round(cpu_ms_per_copy(sealing.sign, data, max(1, copies // 4)), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
