"""Issuing, checking and revoking API keys.

A key is `mlk_` + 8 random hex digits (its prefix, stored and shown) + `_`
+ 43 characters of secret. Keys carry 256 bits of randomness, so a plain
SHA-256 digest is a safe way to store them: no salt or slow hash is needed
against guessing, unlike passwords.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from api.models import ApiKey, KeyScope

KEY_MARK = "mlk_"
PREFIX_LENGTH = len(KEY_MARK) + 8
# Longer than any key we issue; anything longer is refused unread.
MAX_KEY_LENGTH = 100
# last_used_at is a hint for people, not an audit log: write it at most this often.
LAST_USED_PRECISION = timedelta(minutes=1)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def save_new_key(key: ApiKey) -> str:
    """Give the unsaved `key` a fresh secret, save it and return the plaintext.

    The plaintext exists only in the return value: show it once.
    """
    for _attempt in range(5):
        prefix = KEY_MARK + secrets.token_hex(4)
        plaintext = f"{prefix}_{secrets.token_urlsafe(32)}"
        key.prefix, key.key_hash = prefix, hash_key(plaintext)
        try:
            with transaction.atomic():
                key.save()
        except IntegrityError:
            # Two keys drew the same 32-bit prefix; draw again.
            key.pk = None
            continue
        return plaintext
    raise RuntimeError("Could not draw an unused API key prefix")


def create_api_key(user: AbstractBaseUser, *, name: str, scope: str = KeyScope.READ) -> tuple[ApiKey, str]:
    """A new key for `user` and its plaintext (shown once, never stored)."""
    if scope not in KeyScope.values:
        raise ValueError(f"Unknown scope {scope!r}; use one of: {', '.join(KeyScope.values)}")
    key = ApiKey(user=user, name=name, scope=scope)
    return key, save_new_key(key)


def find_key(plaintext: str) -> ApiKey | None:
    """The key whose secret is `plaintext` (revoked or not), or None."""
    if len(plaintext) > MAX_KEY_LENGTH or not plaintext.startswith(KEY_MARK):
        return None
    key = ApiKey.objects.select_related("user").filter(prefix=plaintext[:PREFIX_LENGTH]).first()
    if key is None or not hmac.compare_digest(key.key_hash, hash_key(plaintext)):
        return None
    return key


def record_use(key: ApiKey) -> None:
    now = timezone.now()
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION)
    ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now)


def revoke_key(key: ApiKey) -> None:
    """Revoke `key` for good; revoking twice keeps the first time."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
