"""Routes of the realtime blueprint."""
from apps.realtime import bp  # noqa: F401
