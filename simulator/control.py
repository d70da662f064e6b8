"""Control API under /_sim (not part of the contract; only with SIM_CONTROL=1/--control)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .api import error, state
from .auth import iso_utc
from .config import as_dict

bp = Blueprint("control", __name__, url_prefix="/_sim")


def _json_object() -> dict | None:
    """The request's JSON object body, or None."""
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


@bp.get("/config")
def get_config():
    """Current knobs (secrets masked)."""
    return jsonify(as_dict(state().config))


@bp.post("/config")
def post_config():
    """Change knobs: {"job_duration": 0, "failure_rate": 1, ...}."""
    body = _json_object()
    if body is None:
        return error(422, "Corpo JSON (objeto) esperado")
    try:
        return jsonify(state().set_config(**body))
    except (TypeError, ValueError) as exc:
        return error(422, str(exc))


@bp.post("/fault")
def post_fault():
    """Queue a fault: {"mode": "503"|"500"|"429"|"hang"|"401"|"none", "count": N, ...}."""
    body = _json_object()
    if body is None or "mode" not in body:
        return error(422, "Corpo JSON com 'mode' esperado")
    sim = state()
    try:
        sim.faults.add(body["mode"], body.get("count", 1), body.get("retry_after", 1), body.get("path"))
    except ValueError as exc:
        return error(422, str(exc))
    return jsonify(pending_faults=sim.faults.pending())


@bp.get("/stats")
def get_stats():
    """Request counts, jobs created, replays, refreshes, faults served, gauges."""
    return jsonify(state().snapshot())


@bp.post("/reset")
def post_reset():
    """Forget jobs, faults and stats; knobs back to start-up values."""
    state().reset()
    return jsonify(status="ok")


@bp.post("/token")
def post_token():
    """Issue a token directly: {"ttl_seconds": -60} gives an expired one."""
    body = _json_object() or {}
    try:
        ttl = float(body["ttl_seconds"]) if "ttl_seconds" in body else None
    except (TypeError, ValueError):
        return error(422, "ttl_seconds deve ser numérico")
    token, expires = state().issue_token(ttl)
    return jsonify(access_token=token, expires_at=iso_utc(expires))
