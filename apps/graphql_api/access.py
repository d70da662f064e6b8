"""Who may read which part of the graph: each field names the permission the REST API asks for the same data."""
from apps.auth.policy import has_permission
from apps.graphql_api.errors import Refused


def need(info, permission: str) -> None:
    """Refuse the field (null plus an error naming the permission) unless the caller holds `permission`."""
    if not has_permission(info.context["user"], permission):
        raise Refused(f"Sem permissão para ler este campo ({permission}).")
