"""`hybrix launch`: start N worker processes of one training script as a jax.distributed
group, stream their output with "[rank] " prefixes, and fail as a whole.

    hybrix launch -n 2 -- python train.py --epochs 3           # two workers on this host
    hybrix launch -n 8 --hosts hosts.txt -- python train.py     # over ssh, round-robin

Each worker gets the coordinator address, the worker count and its rank in the
environment (HYBRIX_COORDINATOR, HYBRIX_NUM_WORKERS, HYBRIX_RANK, HYBRIX_LOCAL_RANK, and
MXNet's DMLC_ROLE / DMLC_NUM_WORKER / DMLC_WORKER_ID / DMLC_PS_ROOT_URI / _PORT), which
`import hybrix` reads to join the group. When one worker exits with a non-zero status the
launcher names it, terminates the others (SIGTERM, then SIGKILL after a grace period) and
exits non-zero itself; workers die with the launcher (Linux PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

from hybrix.ir import HybrixError

__all__ = ["LaunchError", "Worker", "launch", "read_hosts", "worker_env"]

_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
_POLL_SECONDS = 0.05


class LaunchError(HybrixError, RuntimeError):
    """Bad launch arguments or a hosts file that cannot be read."""


@dataclass
class Worker:
    """One started worker: its rank, host, process and output reader."""

    rank: int
    host: str
    process: subprocess.Popen
    reader: threading.Thread | None = None
    returncode: int | None = field(default=None)


def read_hosts(path: str) -> list[str]:
    """Host names from a file, one a line; blank lines and `#` comments are skipped.

    A line may hold `host slots=K` (MPI style) to run K workers there.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as e:
        raise LaunchError(f"cannot read hosts file {path!r}: {e}") from e
    hosts: list[str] = []
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        slots = 1
        for word in words[1:]:
            name, _, value = word.partition("=")
            if name != "slots" or not value.isdigit() or int(value) < 1:
                raise LaunchError(
                    f"{path}:{number}: expected `host` or `host slots=K`, got {line.strip()!r}"
                )
            slots = int(value)
        hosts.extend([words[0]] * slots)
    if not hosts:
        raise LaunchError(f"hosts file {path!r} names no host")
    return hosts


def worker_env(coordinator: str, num_workers: int, rank: int, local_rank: int) -> dict[str, str]:
    """The environment variables that place one worker in the group."""
    host, _, port = coordinator.rpartition(":")
    return {
        "HYBRIX_COORDINATOR": coordinator,
        "HYBRIX_NUM_WORKERS": str(num_workers),
        "HYBRIX_RANK": str(rank),
        "HYBRIX_LOCAL_RANK": str(local_rank),
        "DMLC_ROLE": "worker",
        "DMLC_NUM_WORKER": str(num_workers),
        "DMLC_NUM_SERVER": "0",
        "DMLC_WORKER_ID": str(rank),
        "DMLC_PS_ROOT_URI": host,
        "DMLC_PS_ROOT_PORT": port,
        "PYTHONUNBUFFERED": "1",
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: own process group, and SIGKILL when the launcher dies."""
    os.setsid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - not glibc
            pass


def _start(
    command: Sequence[str], host: str, env: dict[str, str], extra_env: dict[str, str]
) -> subprocess.Popen:
    if host in _LOCAL_HOSTS:
        argv = list(command)
        full_env = {**os.environ, **extra_env, **env}
    else:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in {**extra_env, **env}.items())
        remote = f"cd {shlex.quote(os.getcwd())} && env {exports} {shlex.join(command)}"
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=15", host, remote]
        full_env = dict(os.environ)
    try:
        return subprocess.Popen(
            argv,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    except OSError as e:
        raise LaunchError(f"cannot start {argv[0]!r} for a worker on {host}: {e}") from e


def _stream(worker: Worker, output: IO[str], lock: threading.Lock) -> None:
    """Copy a worker's output lines to `output`, each prefixed with "[rank] "."""
    assert worker.process.stdout is not None
    for raw in iter(worker.process.stdout.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        with lock:
            output.write(f"[{worker.rank}] {line}\n")
            output.flush()
    worker.process.stdout.close()


def _stop(workers: Sequence[Worker], grace: float) -> None:
    """SIGTERM every running worker's process group, SIGKILL what is left after `grace`."""
    running = [w for w in workers if w.process.poll() is None]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for worker in running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker.process.pid, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline and any(w.process.poll() is None for w in running):
            time.sleep(_POLL_SECONDS)
        running = [w for w in running if w.process.poll() is None]
        if not running:
            return


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _exit_status(code: int) -> int:
    return 128 - code if code < 0 else code


def launch(
    command: Sequence[str],
    num_workers: int | None = None,
    hosts: Sequence[str] | None = None,
    port: int = 0,
    timeout: float = 0.0,
    grace: float = 10.0,
    env: dict[str, str] | None = None,
    output: IO[str] | None = None,
) -> int:
    """Run `command` as `num_workers` workers; returns 0, or the failing worker's status.

    hosts: one entry per worker slot (read_hosts); workers go round-robin over them, rank
    0 on the first, which also runs the coordinator. timeout: seconds before all workers
    are stopped (0: none). grace: seconds between SIGTERM and SIGKILL.
    """
    output = output or sys.stdout
    if not command:
        raise LaunchError("nothing to launch: give the command after `--`")
    hosts = list(hosts) if hosts else ["127.0.0.1"]
    num_workers = len(hosts) if num_workers is None else num_workers
    if num_workers < 1:
        raise LaunchError(f"-n must be at least 1, got {num_workers}")
    if timeout < 0 or grace < 0:
        raise LaunchError(f"timeout and grace must be >= 0, got {timeout} and {grace}")
    first = hosts[0]
    local = all(h in _LOCAL_HOSTS for h in hosts)
    coordinator_host = "127.0.0.1" if local else first
    coordinator = f"{coordinator_host}:{port or _free_port()}"
    workers, lock = [], threading.Lock()
    local_ranks: dict[str, int] = {}
    try:
        for rank in range(num_workers):
            host = hosts[rank % len(hosts)]
            local_rank = local_ranks.get(host, 0)
            local_ranks[host] = local_rank + 1
            variables = worker_env(coordinator, num_workers, rank, local_rank)
            process = _start(command, host, variables, env or {})
            workers.append(Worker(rank, host, process))
        for worker in workers:
            worker.reader = threading.Thread(target=_stream, args=(worker, output, lock))
            worker.reader.daemon = True
            worker.reader.start()
        return _supervise(workers, timeout, grace, output, lock)
    finally:
        _stop(workers, grace)
        for worker in workers:
            if worker.reader is not None:
                worker.reader.join(timeout=5.0)


def _supervise(
    workers: list[Worker], timeout: float, grace: float, output: IO[str], lock: threading.Lock
) -> int:
    """Wait for every worker; stop them all at the first failure or at the timeout."""
    start = time.monotonic()
    while True:
        for worker in workers:
            if worker.returncode is None:
                worker.returncode = worker.process.poll()
            code = worker.returncode
            if code is not None and code != 0:
                _stop(workers, grace)
                _report(
                    output,
                    lock,
                    f"worker {worker.rank} ({worker.host}) {_describe(code)}; "
                    f"stopped the other {len(workers) - 1} worker(s)",
                )
                return _exit_status(code)
        if all(w.returncode == 0 for w in workers):
            return 0
        if timeout and time.monotonic() - start > timeout:
            _stop(workers, grace)
            waiting = [w.rank for w in workers if w.returncode is None]
            _report(
                output,
                lock,
                f"timed out after {timeout:g}s; workers {waiting} were "
                "still running and have been stopped",
            )
            return 124
        time.sleep(_POLL_SECONDS)


def _report(output: IO[str], lock: threading.Lock, message: str) -> None:
    with lock:
        output.flush()
    print(f"hybrix launch: {message}", file=sys.stderr, flush=True)
