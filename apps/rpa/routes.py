"""Routes of the rpa blueprint."""
from apps.rpa import bp  # noqa: F401
