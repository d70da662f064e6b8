"""Loaded by the RQ worker subprocesses of the portal's integration test (PYTHONPATH): keep() recorded."""
from recorder import install_from_env

install_from_env()
