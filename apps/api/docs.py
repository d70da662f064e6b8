"""The API's OpenAPI 3.1 document and its docs page (Swagger UI from the npm registry, no CDN)."""
from functools import lru_cache
from pathlib import Path

import yaml
from flask import jsonify, render_template

from apps.api.blueprint import bp
from apps.auth.policy import PUBLIC, requires

SPEC_PATH = Path(__file__).with_name("openapi.yaml")


@lru_cache(maxsize=1)
def load_spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


@bp.get("/v1/openapi.json")
@requires(PUBLIC)  # a description of the API, not data: integrators read it before they hold a token
def openapi():
    """The OpenAPI 3.1 document of API v1 and the v2 log routes."""
    return jsonify(load_spec())


@bp.get("/docs")
@requires("painel.ler")
def docs():
    """Interactive documentation of the API."""
    return render_template("api/docs.html")
