"""Keyed hashes of messenger ids, for data that must outlive a person briefly or must not name them.

Chat ids and phone numbers are small spaces, so a plain hash could be reversed by trying them all;
a keyed hash (BLAKE2b with a secret kept outside Redis) cannot.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from bot.settings import Settings

SECRET_FILE = "id-hash.secret"  # noqa: S105 (a file name)
AUDIT_SECRET_FILE = "audit-hmac.secret"  # noqa: S105 (a file name)
# Hashed and stored beside the data, so that a process with another secret is noticed (its marks and
# erasures would miss everything the others wrote); a keyed hash of a public text reveals no secret.
PROBE = "stadtfunk: which ID_HASH_SECRET wrote this data"


class IdHasher:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("ID_HASH_SECRET must be at least 16 characters")
        self._key = hashlib.blake2b(secret, digest_size=32).digest()

    def __call__(self, value: str) -> str:
        return hashlib.blake2b(value.encode(), key=self._key, digest_size=8).hexdigest()


def hasher_for(settings: Settings) -> IdHasher:
    """The service's hasher: ID_HASH_SECRET, or the secret kept in DATA_DIR. Every process that hashes
    chat ids (the service, `stadtfunk broadcast`, `erase-resident`) builds it here."""
    configured = settings.id_hash_secret.get_secret_value() if settings.id_hash_secret else None
    return IdHasher(load_or_create_secret(configured, settings.data_dir))


def load_or_create_secret(configured: str | None, data_dir: Path, file_name: str = SECRET_FILE) -> bytes:
    """The secret from the environment (ID_HASH_SECRET, AUDIT_HMAC_SECRET) when set; otherwise a random
    one kept in DATA_DIR under `file_name`, created on first start."""
    if configured:
        return configured.encode()
    path = data_dir / file_name
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # O_EXCL: when two processes start at once, one creates the secret and the other reads it.
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return path.read_bytes()
    secret = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    return secret


def audit_secret(settings: Settings) -> bytes:
    """The key of the audit log's hash chain: AUDIT_HMAC_SECRET, or the one generated in DATA_DIR."""
    configured = settings.audit_hmac_secret.get_secret_value() if settings.audit_hmac_secret else None
    return load_or_create_secret(configured, settings.data_dir, AUDIT_SECRET_FILE)
