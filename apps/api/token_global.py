"""API v1: the global RPA token for admins (always masked), set, renewed and tested like the page does."""
from flask import g, jsonify

from apps.api.blueprint import bp
from apps.api.helpers import json_body
from apps.auth.policy import requires
from apps.core.errors import ApiError
from apps.core.templating import mask_secret
from apps.core.types import utcnow
from apps.rpa import token as global_token
from apps.rpa.client import RpaError

MAX_MOTIVO = 200


def _state() -> dict:
    """What the page shows: the token masked, where it comes from and when it expires; never the token."""
    current = global_token.current_token()
    expiry = global_token.token_expiry(current)
    return {"configurado": bool(current), "token_mascarado": mask_secret(current) if current else None,
            "origem": global_token.token_source(), "jwt": bool(current and global_token.is_jwt(current)),
            "expira_em": expiry.isoformat() if expiry else None,
            "expirado": bool(expiry and expiry <= utcnow())}


@bp.get("/v1/token-global")
@requires("token.gerenciar")
def api_token_global_get():
    """The global token's state, masked."""
    return jsonify(_state())


@bp.put("/v1/token-global")
@requires("token.gerenciar")
def api_token_global_put():
    """Store {"token", "motivo"?, "forcar"?} as the global token once the RPA API accepts it, like the page.

    422 with fields.token for an expired or refused token; 422 with fields.forcar when it cannot be
    tested (API down, not a JWT): send again with "forcar": true to save it untested.
    """
    data = json_body()
    token, motivo, forcar = data.get("token"), data.get("motivo"), data.get("forcar", False)
    if not isinstance(token, str):
        raise ApiError(422, "Cole o token.", {"token": "obrigatório"})
    if motivo is not None and (not isinstance(motivo, str) or len(motivo) > MAX_MOTIVO):
        raise ApiError(422, f"O motivo deve ser um texto de no máximo {MAX_MOTIVO} caracteres.", {"motivo": "texto"})
    if not isinstance(forcar, bool):
        raise ApiError(422, "forcar deve ser true ou false.", {"forcar": "booleano"})
    global_token.save_checked_token(token, by_user=g.api_user, reason=motivo or "token enviado pela API",
                                    force=forcar)
    return jsonify(_state())


@bp.post("/v1/token-global/renovar")
@requires("token.gerenciar")
def api_token_global_renovar():
    """Get a new JWT from the RPA API with BRM_TOKEN_PASSWORD and store it."""
    try:
        global_token.refresh_global_token(by_user=g.api_user, reason="renovação manual pela API")
    except RpaError as exc:
        raise ApiError(502, f"Não foi possível obter um novo token: {exc.message}") from exc
    return jsonify(_state())


@bp.post("/v1/token-global/testar")
@requires("token.gerenciar")
def api_token_global_testar():
    """Check that the RPA API answers and accepts the global token (audited as token_global_testado)."""
    result = global_token.test_connection(by_user=g.api_user)
    return jsonify(ok=result["ok"], api_ok=result["api_ok"], token_ok=result["token_ok"], mensagem=result["message"])
