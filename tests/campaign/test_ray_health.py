"""The Ray executor's cluster watch without Ray: what it reports as lost (the local raylet or
GCS process ended, the head's GCS address closed, the driver's own node dead) and that a
healthy cluster passes."""

from __future__ import annotations

import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest

from spikefi.campaign.executors import ExecutorLostError
from spikefi.campaign.executors.ray.health import ClusterWatch


class _FakeRay:
    """The few ``ray`` calls the watch makes: runtime context, node table, local processes."""

    def __init__(self, processes=None, gcs_address="127.0.0.1:1", nodes=None):
        infos = {name: [SimpleNamespace(process=proc)] for name, proc in (processes or {}).items()}
        self._private = SimpleNamespace(worker=SimpleNamespace(_global_node=SimpleNamespace(all_processes=infos)))
        self._context = SimpleNamespace(gcs_address=gcs_address, get_node_id=lambda: "a" * 56)
        self._nodes = nodes if nodes is not None else [{"NodeID": "a" * 56, "Alive": True,
                                                          "NodeManagerAddress": "10.0.0.1"}]

    def get_runtime_context(self):
        return self._context

    def nodes(self):
        if isinstance(self._nodes, Exception):
            raise self._nodes
        return self._nodes


@pytest.fixture()
def listening():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"127.0.0.1:{server.getsockname()[1]}"


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_local_raylet_that_ended_is_reported_with_its_pid_and_signal():
    raylet, gcs = _sleeper(), _sleeper()
    try:
        watch = ClusterWatch(_FakeRay({"raylet": raylet, "gcs_server": gcs}))
        watch.check(force=True)  # both alive
        raylet.kill()
        raylet.wait(timeout=10)
        with pytest.raises(ExecutorLostError, match=rf"Ray lost the local Ray's raylet \(its node\): process "
                                                    rf"{raylet.pid} ended \(killed by signal 9\)"):
            watch.check()
        assert "raylet" in str(watch.lost)
        with pytest.raises(ExecutorLostError):  # stays lost
            watch.check()
    finally:
        for proc in (raylet, gcs):
            proc.kill()
            proc.wait(timeout=10)


def test_a_local_gcs_server_that_exited_is_reported():
    gcs = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    gcs.wait(timeout=30)
    with pytest.raises(ExecutorLostError, match=r"GCS server \(its head\): process \d+ ended \(exit code 3\)"):
        ClusterWatch(_FakeRay({"gcs_server": gcs})).check()


def test_a_remote_head_whose_gcs_no_longer_answers_is_reported(listening):
    watch = ClusterWatch(_FakeRay(gcs_address=listening), interval_s=0.01)
    watch.check(force=True)  # a listening GCS and a live node: nothing lost
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    watch.gcs_address = closed
    with pytest.raises(ExecutorLostError, match=f"the cluster's head: its GCS at {closed} does not answer"):
        watch.check(force=True)


def test_the_drivers_own_node_marked_dead_is_reported(listening):
    nodes = [{"NodeID": "b" * 56, "Alive": True}, {"NodeID": "a" * 56, "Alive": False, "NodeManagerAddress": "10.0.0.7"}]
    with pytest.raises(ExecutorLostError, match=r"the driver's own node 10\.0\.0\.7 \(node aaaaaaaaaaaa\)"):
        ClusterWatch(_FakeRay(gcs_address=listening, nodes=nodes)).check(force=True)
    with pytest.raises(ExecutorLostError, match="does not answer"):  # the node table call itself fails
        ClusterWatch(_FakeRay(gcs_address=listening, nodes=ConnectionError("gone"))).check(force=True)


def test_remote_checks_wait_for_their_interval(listening):
    watch = ClusterWatch(_FakeRay(gcs_address=listening, nodes=[{"NodeID": "a" * 56, "Alive": False}]),
                         interval_s=60)
    watch.check()  # not due yet: no GCS call
    with pytest.raises(ExecutorLostError):
        watch.check(force=True)
