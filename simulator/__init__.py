"""Standalone simulator of the external RPA API (see shared/rpa-api/openapi.yaml)."""
from .app import create_app
from .config import SimConfig
from .server import SimServer, serve_in_thread

__all__ = ["create_app", "serve_in_thread", "SimConfig", "SimServer"]
