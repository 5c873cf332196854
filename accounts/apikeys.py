"""API key format, hashing and lookup.

A key looks like `tvz_<prefix>_<secret>`: the prefix finds the row, the whole key is compared by
its SHA-256 (keys are 256-bit random, so a fast hash is enough; no password-style stretching).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import ApiKey, User

KEY_SCHEME = "tvz"
PREFIX_BYTES = 6
SECRET_BYTES = 32
# Write last_used_at at most this often per key, so authenticated reads do not become writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    raw_key: str


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def parse_prefix(raw_key: str) -> str | None:
    # The secret part is urlsafe base64 and may itself contain "_"; the prefix is hex.
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or not parts[1] or not parts[2]:
        return None
    return parts[1]


def api_key_create(*, user: User, name: str) -> IssuedKey:
    """Issue a key; the raw key exists only in the return value."""
    prefix = secrets.token_hex(PREFIX_BYTES)
    raw_key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    api_key = ApiKey.objects.create(user=user, name=name, prefix=prefix, hashed_key=hash_key(raw_key))
    return IssuedKey(api_key=api_key, raw_key=raw_key)


def api_key_revoke(*, api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key matching raw_key, with its user; None for anything else."""
    prefix = parse_prefix(raw_key)
    if prefix is None:
        return None
    api_key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.hashed_key, hash_key(raw_key)):
        return None
    if api_key.revoked_at is not None or not api_key.user.is_active:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        with transaction.atomic():
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
