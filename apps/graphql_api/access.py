"""Who may read which part of the graph: each field names the permission the REST API asks for the same data."""
from apps.auth.policy import VIEW, allows
from apps.graphql_api.errors import Refused

# The permission each kind of data needs, and the access level that grants it today.
READ_PERMISSIONS = {
    "operadora.ler": VIEW,
    "cliente.ler": VIEW,
    "processo.ler": VIEW,
}


def need(info, permission: str) -> None:
    """Refuse the field (null plus an error naming the permission) unless the caller holds `permission`."""
    if not allows(info.context["user"], READ_PERMISSIONS[permission]):
        raise Refused(f"Sem permissão para ler este campo ({permission}).")
