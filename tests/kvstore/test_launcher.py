"""`hybrix launch`: ranks and coordinator in each worker's environment, "[rank] " output,
failure of the whole group when a worker fails (no orphans left), timeouts, hosts files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from hybrix import launcher


def _hybrix_launch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("HYBRIX_COORDINATOR", None)
    return subprocess.run(
        [sys.executable, "-m", "hybrix.cli", "launch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_workers_get_ranks_and_prefixed_output():
    code = (
        "import os; e = os.environ; "
        "print(e['HYBRIX_RANK'], e['HYBRIX_NUM_WORKERS'], e['HYBRIX_COORDINATOR'], "
        "e['DMLC_WORKER_ID'], e['DMLC_ROLE'])"
    )
    result = _hybrix_launch("-n", "3", "--", sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    lines = sorted(result.stdout.splitlines())
    assert len(lines) == 3
    coordinators = set()
    for rank, line in enumerate(lines):
        prefix, got_rank, count, coordinator, dmlc_rank, role = line.split()
        assert (prefix, got_rank, count, dmlc_rank, role) == (
            f"[{rank}]",
            str(rank),
            "3",
            str(rank),
            "worker",
        )
        coordinators.add(coordinator)
    (coordinator,) = coordinators
    assert coordinator.startswith("127.0.0.1:")


def test_a_failing_worker_fails_the_launch_and_stops_the_others(tmp_path):
    code = textwrap.dedent(
        f"""
        import os, sys, time
        rank = int(os.environ["HYBRIX_RANK"])
        open(os.path.join({str(tmp_path)!r}, f"pid{{rank}}"), "w").write(str(os.getpid()))
        if rank == 1:
            time.sleep(0.5)
            sys.exit(7)
        time.sleep(120)
        """
    )
    start = time.monotonic()
    result = _hybrix_launch("-n", "3", "--grace", "2", "--", sys.executable, "-c", code)
    assert time.monotonic() - start < 60
    assert result.returncode == 7
    assert "worker 1 (127.0.0.1) exited with code 7" in result.stderr
    for rank in (0, 2):
        pid = int((tmp_path / f"pid{rank}").read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_killed_mid_training_fails_the_group(tmp_path):
    """Rank 1 dies by SIGKILL between all-reductions; rank 0, blocked in the next one,
    is stopped by the launcher, which names rank 1 and the signal."""
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, signal, time
            import hybrix as mx
            from hybrix import nd

            store = mx.kv.create("dist_sync")
            with open(os.path.join({str(tmp_path)!r}, f"pid{{store.rank}}"), "w") as f:
                f.write(str(os.getpid()))
            store.init(0, nd.zeros((4,)))
            out = nd.zeros((4,))
            for step in range(100000):
                if store.rank == 1 and step == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
                store.pushpull(0, nd.ones((4,)), out=out)
                print("step", step, float(out.asnumpy()[0]), flush=True)
            """
        )
    )
    result = _hybrix_launch(
        "-n", "2", "--grace", "3", "--timeout", "240", "--", sys.executable, str(script)
    )
    assert result.returncode == 128 + 9, result.stdout[-2000:] + result.stderr[-2000:]
    assert "worker 1 (127.0.0.1) was killed by signal SIGKILL" in result.stderr
    assert "[0] step 2 2.0" in result.stdout
    assert "[1] step 2 2.0" in result.stdout
    for rank in (0, 1):
        pid = int((tmp_path / f"pid{rank}").read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_timeout_stops_everything():
    start = time.monotonic()
    code = "import time; print('up', flush=True); time.sleep(60)"
    result = _hybrix_launch(
        "-n", "2", "--timeout", "3", "--grace", "1", "--", sys.executable, "-c", code
    )
    assert result.returncode == 124
    assert time.monotonic() - start < 30
    assert "[0] up" in result.stdout
    assert "[1] up" in result.stdout
    assert "timed out after 3s" in result.stderr


def test_hosts_file(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# cluster\nlocalhost slots=2\n\n127.0.0.1  # last\n")
    assert launcher.read_hosts(str(hosts)) == ["localhost", "localhost", "127.0.0.1"]
    hosts.write_text("node1 gpus=2\n")
    with pytest.raises(launcher.LaunchError, match=r"hosts:1: expected `host` or"):
        launcher.read_hosts(str(hosts))
    with pytest.raises(launcher.LaunchError, match="cannot read hosts file"):
        launcher.read_hosts(str(tmp_path / "missing"))
    hosts.write_text("localhost\n127.0.0.1\n")
    result = _hybrix_launch(
        "--hosts",
        str(hosts),
        "--",
        sys.executable,
        "-c",
        "import os; print(os.environ['HYBRIX_LOCAL_RANK'])",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == ["0", "0", "[0]", "[1]"]


def test_bad_arguments():
    result = _hybrix_launch("-n", "0", "--", sys.executable, "-c", "pass")
    assert result.returncode == 1
    assert "-n must be at least 1" in result.stderr
    result = _hybrix_launch("-n", "1", "--", "/no/such/program")
    assert result.returncode == 1
    assert "cannot start '/no/such/program'" in result.stderr
