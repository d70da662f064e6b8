"""Password hashing with argon2id (OWASP ASVS level), and the rules a new password must meet."""
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (ASVS-compliant)
_dummy: tuple | None = None  # (hasher, hash of a random password made with that hasher's parameters)
_dummy_lock = threading.Lock()


def use_fast_hashing_for_tests() -> None:
    """Tests only: argon2id with minimal cost, so a suite of hundreds of logins stays fast."""
    global _hasher
    _hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _dummy_hash() -> str:
    """A hash of a random password, made once per process with the CURRENT parameters."""
    global _dummy
    current = _dummy
    if current is None or current[0] is not _hasher:
        with _dummy_lock:
            if _dummy is None or _dummy[0] is not _hasher:
                _dummy = (_hasher, _hasher.hash(secrets.token_urlsafe(24)))
            current = _dummy
    return current[1]


def prepare() -> None:
    """Make the dummy hash now (at start), so the first unknown login costs no more than others."""
    _dummy_hash()


def verify_dummy(password: str) -> None:
    """Spend what a real verification costs, for a login that matches no (active) user.

    Without it an unknown login answered in a few ms and a known one in hundreds: the response
    time told who has an account. The result is always a mismatch and is thrown away.
    """
    try:
        _hasher.verify(_dummy_hash(), password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        pass

# The password_hash of a user created by a sign-in through a provider: no password ever matches it.
UNUSABLE = "!externo"


def is_usable(stored_hash: str | None) -> bool:
    """False for a user who has no local password (created through a provider)."""
    return bool(stored_hash) and not stored_hash.startswith("!")


MIN_LENGTH = 10
COMMON_PASSWORDS = frozenset(
    """123456 1234567 12345678 123456789 1234567890 12345678910 password password1 password123
    senha senha123 senha1234 senha12345 qwerty qwerty123 qwertyuiop abc123 abcd1234 111111
    000000 admin admin123 administrador iloveyou brasil brasil123 mudar123 mudarsenha trocar123
    changeme letmein welcome bemvindo teste teste123 teste1234 flamengo corinthians palmeiras
    dashboard rpadashboard operador visualizador 1q2w3e4r 1q2w3e4r5t qazwsx""".split()
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str):
    """(ok, new_hash): new_hash is set when the stored hash uses outdated parameters."""
    try:
        _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if _hasher.check_needs_rehash(stored_hash):
        return True, _hasher.hash(password)
    return True, None


def password_problems(password: str, username: str = "") -> list[str]:
    """Reasons, in Portuguese, why a password is too weak (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"A senha deve ter pelo menos {MIN_LENGTH} caracteres.")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or lowered.rstrip("!@#.0123456789") in COMMON_PASSWORDS:
        problems.append("Esta senha é comum demais; escolha outra.")
    if username and username.lower() in lowered:
        problems.append("A senha não pode conter o nome de usuário.")
    if len(set(password)) < 4:
        problems.append("A senha repete poucos caracteres; escolha outra.")
    return problems
