"""Routes of the clientes blueprint."""
from apps.clientes import bp  # noqa: F401
