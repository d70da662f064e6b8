"""Routes of the operadoras blueprint."""
from apps.operadoras import bp  # noqa: F401
