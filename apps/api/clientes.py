"""API v1: clientes."""
from apps.api import bp  # noqa: F401
