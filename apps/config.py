"""Settings read from the environment (and an optional .env), one class per mode."""
import os
import secrets
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
# .env is read before the classes below read the environment (the real environment wins).
load_dotenv(BASE_DIR / ".env")
# An empty PROMETHEUS_MULTIPROC_DIR (`NAME=` in .env) means unset: prometheus_client switches to
# multiprocess mode on the name alone and would write its files into the working directory.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") == "":
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on", "sim"}


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _dev_secret_key(instance_dir: Path) -> str:
    """A development key kept in instance/ so every worker process and restart shares it."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    key_file = instance_dir / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


class Config:
    """Defaults shared by every mode; each value can be overridden by the environment."""

    ENV_NAME = "base"
    INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'rpa_dashboard.db'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    RQ_QUEUE = os.environ.get("RQ_QUEUE", "rpa")

    API_EXTERNA_URL = os.environ.get("API_EXTERNA_URL", "http://127.0.0.1:8000")
    API_EXTERNA_TOKEN = os.environ.get("API_EXTERNA_TOKEN", "")
    BRM_TOKEN_PASSWORD = os.environ.get("BRM_TOKEN_PASSWORD", "")
    CREDENTIALS_KEY = os.environ.get("CREDENTIALS_KEY", "")  # Fernet key of the operadoras' credentials
    RPA_CONNECT_TIMEOUT = float(os.environ.get("RPA_CONNECT_TIMEOUT", "5"))
    RPA_READ_TIMEOUT = float(os.environ.get("RPA_READ_TIMEOUT", "20"))
    RPA_MAX_RETRIES = _int("RPA_MAX_RETRIES", 4)
    RPA_BACKOFF_BASE = float(os.environ.get("RPA_BACKOFF_BASE", "0.5"))
    RPA_BACKOFF_CAP = float(os.environ.get("RPA_BACKOFF_CAP", "30"))
    RPA_POLL_INTERVAL = float(os.environ.get("RPA_POLL_INTERVAL", "2"))
    RPA_ALLOW_PRIVATE_TARGETS = _bool("RPA_ALLOW_PRIVATE_TARGETS", False)
    RPA_CALL_DEADLINE = float(os.environ.get("RPA_CALL_DEADLINE", "30"))  # whole exchange, body included
    RPA_RETRY_AFTER_CAP = float(os.environ.get("RPA_RETRY_AFTER_CAP", "60"))
    RPA_LOG_GRACE_SECONDS = float(os.environ.get("RPA_LOG_GRACE_SECONDS", "30"))
    RPA_MAX_BAD_ANSWERS = _int("RPA_MAX_BAD_ANSWERS", 3)
    RPA_LOG_PAGE_MAX_LINES = _int("RPA_LOG_PAGE_MAX_LINES", 5000)
    RPA_LOG_LINE_MAX_CHARS = _int("RPA_LOG_LINE_MAX_CHARS", 4000)
    EXECUCAO_MAX_LOG_LINES = _int("EXECUCAO_MAX_LOG_LINES", 20000)
    EXECUCAO_MAX_LOG_BYTES = _int("EXECUCAO_MAX_LOG_MB", 5) * 1024 * 1024
    EXECUCAO_MAX_FATURAS = _int("EXECUCAO_MAX_FATURAS", 50)
    EXECUCAO_MAX_HORAS = float(os.environ.get("EXECUCAO_MAX_HORAS", "6"))
    FOLLOW_LEASE_SECONDS = _int("FOLLOW_LEASE_SECONDS", 120)
    SSE_KEEPALIVE_SECONDS = float(os.environ.get("SSE_KEEPALIVE_SECONDS", "15"))
    SSE_MAX_SECONDS = float(os.environ.get("SSE_MAX_SECONDS", "3600"))
    SSE_MAX_STREAMS_PER_USER = _int("SSE_MAX_STREAMS_PER_USER", 20)
    SSE_MAX_STREAMS_PER_ADDRESS = _int("SSE_MAX_STREAMS_PER_ADDRESS", 50)
    RECONCILE_INTERVAL = _int("RECONCILE_INTERVAL", 60)
    MONTHLY_SCHEDULE_DAY = os.environ.get("MONTHLY_SCHEDULE_DAY", "first_business_day")
    MONTHLY_SCHEDULE_TIME = os.environ.get("MONTHLY_SCHEDULE_TIME", "03:00")
    MONTHLY_CHECK_INTERVAL = _int("MONTHLY_CHECK_INTERVAL", 300)
    FATURAS_DIR = Path(os.environ.get("FATURAS_DIR", BASE_DIR / "instance" / "faturas"))
    MAX_CONTENT_LENGTH = _int("MAX_UPLOAD_MB", 20) * 1024 * 1024
    CLIENTES_IMPORT_BACKGROUND_ROWS = _int("CLIENTES_IMPORT_BACKGROUND_ROWS", 5000)
    LOTES_BACKGROUND_ROWS = _int("LOTES_BACKGROUND_ROWS", 1000)  # larger lotes are prepared by an RQ job
    LOTES_CHUNK_ROWS = _int("LOTES_CHUNK_ROWS", 5000)  # lines per transaction when a lote queues its runs

    JWT_ACCESS_MINUTES = _int("JWT_ACCESS_MINUTES", 15)
    JWT_REFRESH_DAYS = _int("JWT_REFRESH_DAYS", 7)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = 60 * 60 * 24 * _int("REMEMBER_DAYS", 14)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    WTF_CSRF_TIME_LIMIT = None
    ITEMS_PER_PAGE = _int("ITEMS_PER_PAGE", 25)
    DASHBOARD_CACHE_SECONDS = float(os.environ.get("DASHBOARD_CACHE_SECONDS", "30"))
    TIMEZONE = os.environ.get("TIMEZONE", "America/Sao_Paulo")
    PROXY_FIX = _int("PROXY_FIX", 0)
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    JSON_LOGS = _bool("JSON_LOGS", True)
    LOGIN_LIMIT_ACCOUNT = os.environ.get("LOGIN_LIMIT_ACCOUNT", "5 per 15 minutes")
    LOGIN_LIMIT_ADDRESS = os.environ.get("LOGIN_LIMIT_ADDRESS", "30 per 15 minutes")
    LOGIN_DELAY_MAX_SECONDS = _int("LOGIN_DELAY_MAX_SECONDS", 900)
    AUTH_REFRESH_LIMIT = os.environ.get("AUTH_REFRESH_LIMIT", "30 per minute")
    API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "600 per minute")
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    RATELIMIT_SWALLOW_ERRORS = True  # Redis down: let people log in rather than lock everyone out
    RATELIMIT_HEADERS_ENABLED = True
    HSTS_SECONDS = _int("HSTS_SECONDS", 0)
    TESTING = False
    DEBUG = False


class DevelopmentConfig(Config):
    """Local work: a generated secret key kept in instance/."""

    ENV_NAME = "development"

    def __init__(self):
        if not self.SECRET_KEY:
            self.SECRET_KEY = _dev_secret_key(self.INSTANCE_DIR)


class ProductionConfig(Config):
    """Production: refuses to start without SECRET_KEY; secure cookies."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    HSTS_SECONDS = _int("HSTS_SECONDS", 31536000)

    def __init__(self):
        if not self.SECRET_KEY or len(self.SECRET_KEY) < 32:
            raise RuntimeError(
                "SECRET_KEY ausente ou curta (mínimo 32 caracteres): defina-a no ambiente "
                "antes de iniciar em produção."
            )


class TestConfig(Config):
    """Tests: fixed key, CSRF on (tests that need it off say so), fast RPA retries."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "test-secret-key-that-is-long-enough-for-tests"  # noqa: S105 - tests only
    RPA_BACKOFF_BASE = 0.01
    RPA_BACKOFF_CAP = 0.2
    RPA_POLL_INTERVAL = 0.2
    RPA_READ_TIMEOUT = 3
    RPA_CALL_DEADLINE = float(os.environ.get("RPA_CALL_DEADLINE", "5"))  # a test's worker may be given less
    RPA_LOG_GRACE_SECONDS = float(os.environ.get("RPA_LOG_GRACE_SECONDS", "3"))
    FOLLOW_LEASE_SECONDS = 5


CONFIGS = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestConfig,
}


def load_config(name=None):
    """Return a config object for `name` (or APP_ENV, default development)."""
    name = name or os.environ.get("APP_ENV", "development")
    if name not in CONFIGS:
        raise RuntimeError(f"APP_ENV desconhecido: {name}")
    return CONFIGS[name]()
