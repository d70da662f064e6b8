"""Secrets kept at rest, encrypted with Fernet (AES-128-CBC + HMAC-SHA256).

The key is CREDENTIALS_KEY when set (a Fernet key, `Fernet.generate_key()`), else derived from
SECRET_KEY with HKDF-SHA256 and the purpose's own `info`, so each purpose has its own key, apart
from the ones that sign sessions and JWTs. Changing the key (or SECRET_KEY without
CREDENTIALS_KEY) makes what is stored unreadable: `unseal` raises InvalidToken and the caller
treats the secret as absent.
"""
import base64

from cryptography.fernet import Fernet, InvalidToken  # noqa: F401  (InvalidToken: what callers catch)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from apps.core.errors import ServiceError

HKDF_SALT = b"rpa-dashboard"


class CryptoKeyError(ServiceError, ValueError):
    """A bad or missing key setting (the message is for the admin)."""


def fernet(info: bytes) -> Fernet:
    configured = (current_app.config.get("CREDENTIALS_KEY") or "").strip()
    if configured:
        try:
            return Fernet(configured.encode())
        except ValueError as exc:
            raise CryptoKeyError("CREDENTIALS_KEY inválida: use uma chave Fernet (32 bytes em base64 url-safe, "
                            "gerada por Fernet.generate_key()).") from exc
    secret = current_app.config.get("SECRET_KEY") or ""
    if not secret:
        raise CryptoKeyError("Defina SECRET_KEY ou CREDENTIALS_KEY para guardar credenciais.")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=info).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(plaintext: str, info: bytes) -> str:
    """The Fernet token (ASCII) to store."""
    return fernet(info).encrypt(plaintext.encode()).decode("ascii")


def unseal(stored: str | None, info: bytes) -> str | None:
    """The plaintext of a stored token; None when there is none; InvalidToken when it does not decrypt."""
    if not stored:
        return None
    return fernet(info).decrypt(stored.encode("ascii")).decode()
