"""Measure one command in a child process: wall and CPU seconds, peak memory, stage times.

:func:`run_measured` starts the command through ``launch.py`` (a small launcher process, so the
kernel's peak-RSS figure is the command's own) with one BLAS thread, an address-space limit
(``ulimit -v``) and a timeout, and returns a :class:`Measurement`:

* wall seconds, and user + system CPU seconds of the command and every descendant it waited
  for (``os.wait4`` in the launcher: the kernel's own accounting);
* peak resident memory: the kernel's high-water mark of the command (``ru_maxrss``) and, sampled
  every ``POLL_SECONDS``, the summed RSS of the command and its live descendants (worker
  processes), which is the number that matters when workers run in parallel;
* stage lines: ``eventstudy run --verbose`` prints ``[  1.2s] stage`` on standard error as each
  stage starts; at each such line the CPU time and RSS high-water mark of the process tree are
  read from ``/proc``, so every stage gets wall seconds, CPU seconds and the peak memory reached
  by its end;
* how it ended: ``ok``, ``MemoryError`` (the command reported it), ``killed`` (by a signal, e.g.
  the kernel's OOM killer, or by the watcher over the memory cap), ``timeout``, or ``error``.

Linux only (``/proc``, ``RLIMIT_AS``).

Examples
--------
>>> m = run_measured([sys.executable, "-c", "print('hi')"])  # doctest: +SKIP
>>> m.status, m.stdout.strip()                              # doctest: +SKIP
('ok', 'hi')
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

POLL_SECONDS = 0.1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
STAGE_LINE = re.compile(r"^\[\s*[\d.]+s\] (?P<stage>.+)$")
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
LAUNCHER = Path(__file__).with_name("launch.py")
MEMORY_FAILURES = ("MemoryError", "Unable to allocate", "std::bad_alloc", "Cannot allocate memory")
GIB = 2**30


@dataclass
class Stage:
    """One stage of a run: its name and what it cost up to the next stage line."""

    name: str
    wall: float = 0.0
    cpu: float = 0.0
    peak_rss: int = 0  # bytes: the RSS high-water mark at the end of the stage


@dataclass
class Measurement:
    """What one child process cost and how it ended (see :func:`run_measured`)."""

    command: list[str]
    status: str  # 'ok' | 'MemoryError' | 'killed' | 'timeout' | 'error'
    returncode: int
    wall: float
    cpu: float  # user + system seconds, command and waited-for descendants
    peak_rss: int  # bytes, kernel high-water mark of the command itself
    peak_tree_rss: int  # bytes, the larger of peak_rss and the sampled sum over live descendants
    stages: list[Stage] = field(default_factory=list)
    stdout: str = ""
    system: float = float("nan")  # the system part of ``cpu`` (NaN when the launcher was killed)
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def failure(self) -> str:
        """A one-line description of how the run ended (empty when it succeeded)."""
        if self.ok:
            return ""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        memory = [line for line in lines if any(word in line for word in MEMORY_FAILURES)]
        last = (memory or lines or [""])[-1]
        return f"{self.status} (exit {self.returncode}): {last[:200]}"


def run_measured(
    command: list[str],
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    memory_cap: int | None = None,
) -> Measurement:
    """Run ``command`` to completion and measure it (see the module docstring).

    Parameters
    ----------
    command : list of str
        The program and its arguments.
    cwd : path, optional
        Working directory of the command.
    env : dict, optional
        Extra environment variables (added to this process's environment and :data:`ONE_THREAD`).
    timeout : float, optional
        Seconds after which the process group is killed (status ``timeout``).
    memory_cap : int, optional
        Bytes of address space the command (and each of its workers) may map (``RLIMIT_AS``);
        the summed RSS of the tree is also watched and the group killed if it exceeds the cap.
    """
    full_env = {**os.environ, **ONE_THREAD, **(env or {})}
    handle, result_file = tempfile.mkstemp(prefix="measure-", suffix=".json")
    os.close(handle)
    launch = [sys.executable, "-S", str(LAUNCHER), result_file, str(memory_cap or 0), "--", *command]
    started = time.perf_counter()
    child = subprocess.Popen(launch, cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    watch = _Watcher(child.pid, memory_cap, timeout, started)
    watch.start()
    out_lines: list[str] = []
    reader = threading.Thread(target=lambda: out_lines.extend(child.stdout), daemon=True)
    reader.start()
    err_lines, marks = [], []
    for line in child.stderr:
        err_lines.append(line)
        match = STAGE_LINE.match(line.rstrip("\n"))
        if match:
            marks.append((match["stage"], time.perf_counter(), *_tree_cpu_and_hwm(child.pid)))
    child.wait()
    wall = time.perf_counter() - started
    watch.stop()
    reader.join()
    usage = _read_result(result_file)
    if usage:
        returncode = usage["returncode"]
        cpu = usage["user"] + usage["system"]
        peak = usage["maxrss_kib"] * 1024
    else:  # the launcher itself was killed: what the watcher saw last
        returncode, cpu, peak = child.returncode, watch.last_cpu, watch.peak_hwm
    system = usage["system"] if usage else float("nan")
    stderr = "".join(err_lines)
    return Measurement(
        command=list(command),
        status=_status(returncode, stderr, watch),
        returncode=returncode,
        wall=wall,
        cpu=cpu,
        peak_rss=peak,
        peak_tree_rss=max(watch.peak_tree_rss, peak),
        stages=_stages(marks, started, wall, cpu, peak),
        stdout="".join(out_lines),
        stderr=stderr,
        system=system,
    )


def _read_result(path: str) -> dict | None:
    try:
        text = Path(path).read_text(encoding="utf-8")
        return json.loads(text) if text else None
    finally:
        os.unlink(path)


def _status(returncode: int, stderr: str, watch: _Watcher) -> str:
    if watch.timed_out:
        return "timeout"
    if any(word in stderr for word in MEMORY_FAILURES):
        return "MemoryError"
    if watch.over_cap or returncode < 0:
        return "killed"
    return "ok" if returncode == 0 else "error"


def _stages(marks: list[tuple], started: float, wall: float, cpu: float, peak: int) -> list[Stage]:
    """Stage costs from the marks ``(name, time, cpu, hwm)`` taken as each stage line arrived."""
    if not marks:
        return []
    ends = [(m[1], m[2], m[3]) for m in marks[1:]] + [(started + wall, cpu, peak)]
    stages = [Stage("start-up, imports, study file", marks[0][1] - started, marks[0][2], marks[0][3])]
    for (name, at, cpu_at, _), (end, cpu_end, hwm_end) in zip(marks, ends):
        stages.append(Stage(name, end - at, max(cpu_end - cpu_at, 0.0), hwm_end))
    return stages


def _descendants(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return found


def _tree_cpu_and_hwm(pid: int) -> tuple[float, int]:
    """CPU seconds (own + reaped children, summed over the tree) and the largest RSS
    high-water mark (bytes) in the tree of ``pid``."""
    cpu, hwm = 0.0, 0
    for member in _descendants(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            cpu += sum(int(v) for v in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime
            hwm = max(hwm, _status_kib(member, "VmHWM") * 1024)
        except (OSError, ValueError):
            continue
    return cpu, hwm


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _tree_rss(pid: int) -> int:
    """Summed resident bytes of ``pid`` and its live descendants."""
    total = 0
    for member in _descendants(pid):
        try:
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * PAGE_BYTES
        except (OSError, ValueError):
            continue
    return total


class _Watcher(threading.Thread):
    """Samples the tree's RSS and CPU; kills the process group on timeout or over the cap."""

    def __init__(self, pid: int, memory_cap: int | None, timeout: float | None, started: float):
        super().__init__(daemon=True)
        self.pid, self.memory_cap, self.timeout, self.started = pid, memory_cap, timeout, started
        self.peak_tree_rss = self.peak_hwm = 0
        self.last_cpu = 0.0
        self.timed_out = self.over_cap = False
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(POLL_SECONDS):
            rss = _tree_rss(self.pid)
            self.peak_tree_rss = max(self.peak_tree_rss, rss)
            cpu, hwm = _tree_cpu_and_hwm(self.pid)
            self.last_cpu, self.peak_hwm = max(self.last_cpu, cpu), max(self.peak_hwm, hwm)
            if self.memory_cap and rss > self.memory_cap:
                self.over_cap = True
                self._kill()
            if self.timeout and time.perf_counter() - self.started > self.timeout:
                self.timed_out = True
                self._kill()

    def _kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        self._done.set()
        self.join()


def gib(n_bytes: float) -> str:
    """``n_bytes`` as GiB with two decimals, e.g. ``'1.97'``."""
    return f"{n_bytes / GIB:.2f}"


if __name__ == "__main__":  # smoke test: python benchmarks/measure.py CMD ...
    result = run_measured(sys.argv[1:])
    print(result.status, f"wall {result.wall:.2f}s cpu {result.cpu:.2f}s peak {gib(result.peak_rss)} GiB")
