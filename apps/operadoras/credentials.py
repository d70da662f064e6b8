"""An outsourced robot's own credential, encrypted at rest with Fernet (apps/core/crypto.py).

The key is CREDENTIALS_KEY when set (a Fernet key, `Fernet.generate_key()`), else derived from
SECRET_KEY with HKDF-SHA256 (its own `info`, so it is a different key from the ones that sign
sessions and JWTs). Changing the key (or SECRET_KEY without CREDENTIALS_KEY) makes the stored
credentials unreadable: credential_for() then answers None and logs a warning, and an admin types
each one again. The plaintext is never logged, audited, shown or serialized.
"""
import logging

from apps.core import crypto
from apps.core.errors import ServiceError

log = logging.getLogger(__name__)

MAX_LENGTH = 4096  # like the global token: a JWT or an API key, never a document
HKDF_INFO = b"operadoras.credencial_rpa.v1"


class CredentialError(ServiceError, ValueError):
    """A credential that may not be stored (the message is for the admin), or a bad key setting."""


def clean(value) -> str:
    """The credential as it will be sent (surrounding spaces and a pasted 'Bearer ' dropped); CredentialError."""
    if not isinstance(value, str):
        raise CredentialError("Texto esperado.")
    text = value.strip()
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    if not text:
        raise CredentialError("Informe a credencial.")
    if len(text) > MAX_LENGTH:
        raise CredentialError(f"A credencial deve ter no máximo {MAX_LENGTH} caracteres.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise CredentialError("A credencial não pode conter espaços, quebras de linha nem caracteres de controle.")
    return text


def encrypt(credential: str) -> str:
    """The Fernet token (ASCII) to store for a cleaned credential."""
    try:
        return crypto.seal(credential, HKDF_INFO)
    except crypto.CryptoKeyError as exc:
        raise CredentialError(str(exc)) from exc


def decrypt(stored: str | None) -> str | None:
    """The plaintext of a stored token; None when there is none; InvalidToken when it does not decrypt."""
    try:
        return crypto.unseal(stored, HKDF_INFO)
    except crypto.CryptoKeyError as exc:
        raise CredentialError(str(exc)) from exc


def credential_for(operadora) -> str | None:
    """The operadora's own decrypted credential, or None (none stored, or it cannot be decrypted: a warning
    naming the operadora, never the secret, is logged)."""
    stored = getattr(operadora, "credencial_rpa_cifrada", None)
    if not stored:
        return None
    try:
        return decrypt(stored)
    except (crypto.InvalidToken, CredentialError, UnicodeError, ValueError) as exc:
        log.warning("the RPA credential of operadora %s cannot be decrypted (%s): did CREDENTIALS_KEY or "
                    "SECRET_KEY change? An admin must enter it again.", getattr(operadora, "codigo", "?"),
                    type(exc).__name__)
        return None
