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
    # How long a process reuses the global token it read (every job needs it; a changed token is seen at once
    # after the API refuses the old one: a 401 reads it again from the database). 0 reads it at every client.
    RPA_TOKEN_CACHE_SECONDS = float(os.environ.get("RPA_TOKEN_CACHE_SECONDS", "15"))
    RPA_MAX_BAD_ANSWERS = _int("RPA_MAX_BAD_ANSWERS", 3)
    RPA_LOG_PAGE_MAX_LINES = _int("RPA_LOG_PAGE_MAX_LINES", 5000)
    RPA_LOG_LINE_MAX_CHARS = _int("RPA_LOG_LINE_MAX_CHARS", 4000)
    EXECUCAO_MAX_LOG_LINES = _int("EXECUCAO_MAX_LOG_LINES", 20000)
    EXECUCAO_MAX_LOG_BYTES = _int("EXECUCAO_MAX_LOG_MB", 5) * 1024 * 1024
    EXECUCAO_MAX_FATURAS = _int("EXECUCAO_MAX_FATURAS", 50)
    EXECUCAO_MAX_ARQUIVOS = _int("EXECUCAO_MAX_ARQUIVOS", 20)  # files a portal serviço's run may return
    EXECUCAO_MAX_HORAS = float(os.environ.get("EXECUCAO_MAX_HORAS", "6"))
    # The follower renews its lease at every look (RPA_POLL_INTERVAL) and during long downloads; a lost
    # follower (its worker or machine killed) is noticed when the lease runs out plus one reconciler pass.
    FOLLOW_LEASE_SECONDS = _int("FOLLOW_LEASE_SECONDS", 20)
    SSE_KEEPALIVE_SECONDS = float(os.environ.get("SSE_KEEPALIVE_SECONDS", "15"))
    SSE_MAX_SECONDS = float(os.environ.get("SSE_MAX_SECONDS", "3600"))
    SSE_MAX_STREAMS_PER_USER = _int("SSE_MAX_STREAMS_PER_USER", 20)
    SSE_MAX_STREAMS_PER_ADDRESS = _int("SSE_MAX_STREAMS_PER_ADDRESS", 50)
    RECONCILE_INTERVAL = _int("RECONCILE_INTERVAL", 15)
    ROBO_HEARTBEAT_SECONDS = _int("ROBO_HEARTBEAT_SECONDS", 15)  # robots' /health probe (apps.robos.heartbeat)
    ROBO_SEM_RESPOSTA_SECONDS = _int("ROBO_SEM_RESPOSTA_SECONDS", 60)
    ROBO_DESCONECTAR_SECONDS = _int("ROBO_DESCONECTAR_SECONDS", 120)
    ROBO_HEALTH_TIMEOUT = float(os.environ.get("ROBO_HEALTH_TIMEOUT", "5"))
    MONTHLY_SCHEDULE_DAY = os.environ.get("MONTHLY_SCHEDULE_DAY", "first_business_day")
    MONTHLY_SCHEDULE_TIME = os.environ.get("MONTHLY_SCHEDULE_TIME", "03:00")
    MONTHLY_CHECK_INTERVAL = _int("MONTHLY_CHECK_INTERVAL", 300)
    APROVACOES_CHECK_INTERVAL = _int("APROVACOES_CHECK_INTERVAL", 900)  # approval reminders (apps/aprovacoes)
    APROVACOES_LEMBRETE_HORA = os.environ.get("APROVACOES_LEMBRETE_HORA", "08:00")
    FATURAS_DIR = Path(os.environ.get("FATURAS_DIR", BASE_DIR / "instance" / "faturas"))
    MAX_CONTENT_LENGTH = _int("MAX_UPLOAD_MB", 20) * 1024 * 1024
    # Artefatos (invoices, run logs, SAT receipts, service files): where they are stored, how long kept.
    ARTEFATOS_STORAGE = os.environ.get("ARTEFATOS_STORAGE", "local")  # local | s3
    ARTEFATOS_DIR = os.environ.get("ARTEFATOS_DIR") or None  # local backend's root; FATURAS_DIR when unset
    ARTEFATOS_S3_URL = os.environ.get("ARTEFATOS_S3_URL", "")  # endpoint; empty = AWS itself
    ARTEFATOS_S3_BUCKET = os.environ.get("ARTEFATOS_S3_BUCKET", "")
    ARTEFATOS_S3_ACCESS_KEY = os.environ.get("ARTEFATOS_S3_ACCESS_KEY", "")
    ARTEFATOS_S3_SECRET_KEY = os.environ.get("ARTEFATOS_S3_SECRET_KEY", "")
    ARTEFATOS_S3_REGION = os.environ.get("ARTEFATOS_S3_REGION", "us-east-1")
    ARTEFATOS_S3_PREFIX = os.environ.get("ARTEFATOS_S3_PREFIX", "")
    RETENCAO_LOG_DIAS = _int("RETENCAO_LOG_DIAS", 90)
    RETENCAO_ARQUIVO_DIAS = _int("RETENCAO_ARQUIVO_DIAS", 30)
    RETENCAO_FATURA_DIAS = _int("RETENCAO_FATURA_DIAS", 5 * 365 + 1)  # 5 years: the tax records term
    RETENCAO_PROTOCOLO_DIAS = _int("RETENCAO_PROTOCOLO_DIAS", 5 * 365 + 1)
    RETENCAO_INTERVAL = _int("RETENCAO_INTERVAL", 24 * 3600)
    CLIENTES_IMPORT_BACKGROUND_ROWS = _int("CLIENTES_IMPORT_BACKGROUND_ROWS", 5000)
    LOTES_BACKGROUND_ROWS = _int("LOTES_BACKGROUND_ROWS", 1000)  # larger lotes are prepared by an RQ job
    LOTES_CHUNK_ROWS = _int("LOTES_CHUNK_ROWS", 5000)  # lines per transaction when a lote queues its runs

    JWT_ACCESS_MINUTES = _int("JWT_ACCESS_MINUTES", 15)
    GRAPHQL_DEFAULT_FIRST = _int("GRAPHQL_DEFAULT_FIRST", 20)  # items of a list when `first` is not given
    GRAPHQL_MAX_FIRST = _int("GRAPHQL_MAX_FIRST", 100)
    GRAPHQL_MAX_DEPTH = _int("GRAPHQL_MAX_DEPTH", 12)  # nested fields (a connection's edges and node count)
    GRAPHQL_MAX_COST = _int("GRAPHQL_MAX_COST", 5000)  # 1 per field, a list's selection × its `first`
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
    # Every this many rows of a month's processo list, the id is kept (apps.processos.ancoras) for pages typed deep.
    PROCESSOS_ANCORA_PASSO = _int("PROCESSOS_ANCORA_PASSO", 1000)
    DASHBOARD_CACHE_SECONDS = float(os.environ.get("DASHBOARD_CACHE_SECONDS", "30"))
    TIMEZONE = os.environ.get("TIMEZONE", "America/Sao_Paulo")
    PROXY_FIX = _int("PROXY_FIX", 0)
    INSTANCE_NAME = os.environ.get("INSTANCE_NAME", "")  # set: answered in X-Instance (which web instance served)
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
    # Notifications (apps/notificacoes): a channel without its settings is off, and the pages say so.
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5050").rstrip("/")
    SMTP_URL = os.environ.get("SMTP_URL", "")  # smtp://user:pass@host:587 (STARTTLS), smtps://… (TLS)
    SMTP_FROM = os.environ.get("SMTP_FROM", "")
    TELEGRAM_BOT_TOKEN = os.environ.get("TELEGRAM_BOT_TOKEN", "")
    TELEGRAM_API_URL = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")
    TELEGRAM_WEBHOOK_SECRET = os.environ.get("TELEGRAM_WEBHOOK_SECRET", "")
    WHATSAPP_ACCOUNT_SID = os.environ.get("WHATSAPP_ACCOUNT_SID", "")
    WHATSAPP_AUTH_TOKEN = os.environ.get("WHATSAPP_AUTH_TOKEN", "")
    WHATSAPP_FROM_NUMBER = os.environ.get("WHATSAPP_FROM_NUMBER", "")
    WHATSAPP_API_URL = os.environ.get("WHATSAPP_API_URL", "https://api.twilio.com").rstrip("/")
    NOTIFICACOES_MOCK = _bool("NOTIFICACOES_MOCK", False)
    NOTIFICACOES_AGRUPAR_SEGUNDOS = _int("NOTIFICACOES_AGRUPAR_SEGUNDOS", 60)
    NOTIFICACOES_MAX_TENTATIVAS = _int("NOTIFICACOES_MAX_TENTATIVAS", 6)
    NOTIFICACOES_BACKOFF_BASE = float(os.environ.get("NOTIFICACOES_BACKOFF_BASE", "5"))
    NOTIFICACOES_BACKOFF_CAP = float(os.environ.get("NOTIFICACOES_BACKOFF_CAP", "600"))
    NOTIFICACOES_TIMEOUT = float(os.environ.get("NOTIFICACOES_TIMEOUT", "10"))
    NOTIFICACOES_WEBHOOK_ALLOW_PRIVATE = _bool("NOTIFICACOES_WEBHOOK_ALLOW_PRIVATE", False)
    NOTIFICACOES_INBOUND_LIMIT = os.environ.get("NOTIFICACOES_INBOUND_LIMIT", "60 per minute")
    MENSAGENS_RETENCAO_DIAS = _int("MENSAGENS_RETENCAO_DIAS", 30)
    # Sign-in through an identity provider (apps/auth/sso.py). LOCAL_LOGIN=false: only Admins marked break-glass
    # may still use a password (web and API).
    LOCAL_LOGIN = _bool("LOCAL_LOGIN", True)
    OIDC_ISSUER = os.environ.get("OIDC_ISSUER", "")
    OIDC_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "")
    OIDC_CLIENT_SECRET = os.environ.get("OIDC_CLIENT_SECRET", "")
    OIDC_SCOPES = os.environ.get("OIDC_SCOPES", "openid email profile")
    OIDC_ROLE_CLAIM = os.environ.get("OIDC_ROLE_CLAIM", "")
    OIDC_ROLE_MAP = os.environ.get("OIDC_ROLE_MAP", "")  # RPA.Admin=ADMIN,RPA.Operador=OPERADOR
    OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "provedor de identidade")
    GITHUB_ID = os.environ.get("GITHUB_ID", "")
    GITHUB_SECRET = os.environ.get("GITHUB_SECRET", "")
    GITHUB_ORG = os.environ.get("GITHUB_ORG", "")
    GITHUB_ROLE_MAP = os.environ.get("GITHUB_ROLE_MAP", "")  # team slugs of GITHUB_ORG: operadores=OPERADOR
    GITHUB_OAUTH_URL = os.environ.get("GITHUB_OAUTH_URL", "https://github.com")
    GITHUB_API_URL = os.environ.get("GITHUB_API_URL", "https://api.github.com")
    SSO_HTTP_TIMEOUT = float(os.environ.get("SSO_HTTP_TIMEOUT", "10"))
    TESTING = False
    DEBUG = False


class DevelopmentConfig(Config):
    """Local work: a generated secret key kept in instance/."""

    ENV_NAME = "development"
    NOTIFICACOES_MOCK = _bool("NOTIFICACOES_MOCK", True)  # demo users get Mock messages in /mensagens

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
    RPA_TOKEN_CACHE_SECONDS = float(os.environ.get("RPA_TOKEN_CACHE_SECONDS", "0"))  # tests change tokens in place
    FOLLOW_LEASE_SECONDS = 5
    NOTIFICACOES_MOCK = True
    NOTIFICACOES_BACKOFF_BASE = 0.2
    NOTIFICACOES_TIMEOUT = 3


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
