"""Routes of the processos blueprint."""
from apps.processos import bp  # noqa: F401
