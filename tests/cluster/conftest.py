"""The cluster lane (`make test-cluster`, part of `make test`): one module-wide cluster of two machines."""
import pytest

from tests.cluster.harness import Cluster
from tests.support.servers import postgres_server, redis_server


@pytest.fixture(scope="package")
def cluster():
    """Two machines (web, worker; their schedulers start in the schedulers test) behind nginx."""
    with postgres_server() as database_url, redis_server() as (redis_url, _proc):
        lane = Cluster(database_url, redis_url)
        try:
            yield lane.start()
        except BaseException:
            print(lane.logs())
            raise
        finally:
            lane.stop()
