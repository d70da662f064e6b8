"""The RPA API simulator for tests: one server per test module, started with the module's knobs.

A module (or a conftest) states only its knobs, as a module-scoped fixture:

    @pytest.fixture(scope="module")
    def sim_knobs():
        return {"password": SIM_PASSWORD, "job_duration": 0}

`sim_server` is that module's running simulator; `sim` is the same server reset (no jobs, faults,
stats; start-up knobs back) before and after each test. tests/conftest.py registers both.
"""
from contextlib import contextmanager

import pytest

from simulator import serve_in_thread


@contextmanager
def start_simulator(port=0, **knobs):
    """A simulator on 127.0.0.1 and `port` (0: a free one), with these knobs, shut down on exit."""
    server = serve_in_thread(host="127.0.0.1", port=port, **knobs)
    try:
        yield server
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def sim_knobs() -> dict:
    """The simulator's start-up knobs; override it (module scope) where a module needs others."""
    return {}


@pytest.fixture(scope="module")
def sim_server(sim_knobs):
    """One simulator per test module, started with `sim_knobs`."""
    with start_simulator(**sim_knobs) as server:
        yield server


@pytest.fixture
def sim(sim_server):
    """The module's simulator with no jobs, faults or stats, and its start-up knobs."""
    sim_server.reset()
    yield sim_server
    sim_server.reset()
