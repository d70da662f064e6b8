"""API v1: processos."""
from apps.api import bp  # noqa: F401
