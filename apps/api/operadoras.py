"""API v1: operadoras."""
from apps.api import bp  # noqa: F401
