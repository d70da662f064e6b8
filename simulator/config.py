"""Simulator configuration: the knobs, their defaults, coercion and env parsing."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_OPERADORAS = ("VIVO", "EMBRATEL", "OI", "DIGITALNET", "CLARO", "TIM")
DEFAULT_PASSWORD = "brm-sim"
DEFAULT_VERSION = "1.1.0-sim"
DEFAULT_ROBOT = "simulador"
TRUE_WORDS = {"1", "true", "yes", "on", "sim"}
FALSE_WORDS = {"0", "false", "no", "off", "nao", "não", ""}

# Fields that cannot change after the app is created.
STATIC_FIELDS = frozenset({"jwt_secret", "control", "seed"})
# Env var names that do not follow the SIM_<FIELD> rule.
ENV_NAMES = {"password": "BRM_TOKEN_PASSWORD", "static_token": "SIM_TOKEN"}


@dataclass
class SimConfig:
    """All simulator settings; every field except STATIC_FIELDS is a runtime knob."""

    job_duration: float = 4.0  # seconds spent RUNNING
    queue_wait: float = 1.0  # seconds spent PENDING
    log_lines: int = 8  # log lines emitted while RUNNING (plus the final one)
    failure_rate: float = 0.0  # probability (0..1) that a job ends FAILED
    latency: float = 0.0  # seconds added to every contract request
    hang_seconds: float = 60.0  # how long a "hang" fault sleeps (or until shutdown)
    sse_ping: float = 10.0  # seconds between ": ping" comments on /events/logs
    corrupt_sha256: int = 0  # next N download jobs report a wrong sha256 (1st invoice)
    logs_lag: float = 0.0  # seconds the final log line shows on /logs after the job's terminal status
    max_active: int = 0  # >0: answer 429 when this many jobs are PENDING/RUNNING
    retry_after: int = 5  # Retry-After of the max_active 429
    operadoras: tuple = DEFAULT_OPERADORAS
    health_details: bool = True  # /health reports the 1.1 fields; False: a 1.0 server's {"status": "ok"}
    version: str | None = DEFAULT_VERSION  # /health "version" (empty: not reported)
    robot: str | None = DEFAULT_ROBOT  # /health "robot", this server's name (empty: not reported)
    capacity: int = 0  # /health "capacity", jobs run at once (0: not reported)
    cancel_supported: bool = True  # False: POST /jobs/{id}/cancel answers 405 (a server that cannot cancel)
    cancel_delay: float = 0.0  # seconds between the cancel request and the job ending FAILED
    tasks_supported: bool = True  # False: /tarefas routes answer 404 (a server without generic tasks)
    password: str = DEFAULT_PASSWORD  # BRM_TOKEN_PASSWORD accepted by /auth/refresh
    static_token: str | None = None  # SIM_TOKEN: a fixed bearer always accepted
    token_ttl_days: int = 365
    jwt_secret: str = ""  # empty: a random secret is generated
    control: bool = False  # expose /_sim/* control API
    seed: int | None = None  # seed for the simulator's random generator


FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(SimConfig)}


def _to_bool(value: Any) -> bool:
    """Parse a boolean from bool/int/str."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"valor booleano inválido: {value!r}")


def _to_number(name: str, value: Any, kind: type) -> float | int:
    """Parse a non-negative number of the given kind."""
    if isinstance(value, bool):
        if name == "corrupt_sha256":
            return int(value)
        raise ValueError(f"{name}: número esperado")
    try:
        number = float(value)
        if kind is int:
            if not number.is_integer():
                raise ValueError
            number = int(number)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name}: número inválido: {value!r}") from None
    if number < 0 or number != number or number == float("inf"):
        raise ValueError(f"{name}: deve ser >= 0")
    if name == "failure_rate" and number > 1:
        raise ValueError("failure_rate: deve estar entre 0 e 1")
    return number


def _to_operadoras(value: Any) -> tuple:
    """Parse a list or comma-separated string of operator codes."""
    items = value.split(",") if isinstance(value, str) else list(value)
    codes = tuple(str(item).strip().upper() for item in items if str(item).strip())
    if not codes:
        raise ValueError("operadoras: lista vazia")
    return codes


def coerce(name: str, value: Any) -> Any:
    """Convert a raw value (CLI, env, JSON) to the type of knob `name`."""
    kind = FIELD_TYPES.get(name)
    if kind is None:
        raise ValueError(f"parâmetro desconhecido: {name}")
    if name == "operadoras":
        return _to_operadoras(value)
    if kind == "bool":
        return _to_bool(value)
    if name == "capacity" and value in (None, ""):
        return 0
    if kind in ("float", "int"):
        return _to_number(name, value, float if kind == "float" else int)
    if name == "seed":
        return None if value in (None, "") else _to_number(name, value, int)
    if name in ("password", "jwt_secret") and not isinstance(value, str):
        raise ValueError(f"{name}: texto esperado")
    if name == "password" and not value:
        raise ValueError("password: não pode ser vazia")
    if name in ("version", "robot"):
        return None if value is None or not str(value).strip() else str(value).strip()
    return None if value is None else str(value)


def updated(config: SimConfig, changes: Mapping[str, Any], runtime: bool = False) -> SimConfig:
    """Return a copy of `config` with coerced `changes`; runtime forbids static fields."""
    values = {}
    for name, raw in changes.items():
        if runtime and name in STATIC_FIELDS:
            raise ValueError(f"{name}: não pode ser alterado em execução")
        values[name] = coerce(name, raw)
    return dataclasses.replace(config, **values)


def env_name(name: str) -> str:
    """Environment variable that sets knob `name`."""
    return ENV_NAMES.get(name, "SIM_" + name.upper())


def from_env(environ: Mapping[str, str] | None = None) -> SimConfig:
    """Build a config from defaults overridden by SIM_* / BRM_TOKEN_PASSWORD env vars."""
    environ = os.environ if environ is None else environ
    changes = {name: environ[env_name(name)] for name in FIELD_TYPES if env_name(name) in environ}
    return updated(SimConfig(), changes)


def as_dict(config: SimConfig) -> dict:
    """JSON-friendly view of the config, secrets masked."""
    data = {name: getattr(config, name) for name in FIELD_TYPES}
    data["operadoras"] = list(config.operadoras)
    data["jwt_secret"] = "***" if config.jwt_secret else ""
    data["static_token"] = "***" if config.static_token else None
    return data
