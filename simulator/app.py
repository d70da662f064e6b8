"""Flask app factory of the RPA API simulator."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from . import api, control
from .config import SimConfig, updated
from .state import SimState

HTTP_DETAILS = {404: "Recurso não encontrado", 405: "Método não permitido",
                500: "Erro interno do simulador"}
log = logging.getLogger(__name__)


def make_config(config: SimConfig | Mapping[str, Any] | None = None, **knobs) -> SimConfig:
    """Accept a SimConfig, a dict of knobs or nothing, plus keyword overrides."""
    base = config if isinstance(config, SimConfig) else updated(SimConfig(), dict(config or {}))
    return updated(base, knobs) if knobs else base


def _count_unmatched() -> None:
    """Count requests that hit no route (outside /_sim) in the stats."""
    if request.url_rule is None and not request.path.startswith("/_sim"):
        current_app.extensions["simulator"].stats.request(f"{request.method} (sem rota)")


def _http_error(exc: HTTPException):
    """Every routing/HTTP error as {"detail": ...}."""
    code = exc.code or 500
    return jsonify(detail=HTTP_DETAILS.get(code, exc.description or "Erro")), code


def _unexpected_error(exc: Exception):
    """Unhandled exceptions become 500 {"detail": ...}."""
    log.exception("simulator error", exc_info=exc)
    return jsonify(detail=HTTP_DETAILS[500]), 500


def create_app(config: SimConfig | Mapping[str, Any] | None = None, **knobs) -> Flask:
    """Build the simulator app; its SimState is app.extensions["simulator"]."""
    cfg = make_config(config, **knobs)
    app = Flask("simulator")
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["simulator"] = SimState(cfg)
    app.register_blueprint(api.bp)
    if cfg.control:
        app.register_blueprint(control.bp)
    app.before_request(_count_unmatched)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app
