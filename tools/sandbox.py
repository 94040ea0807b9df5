"""Run Python code in a child process with limits: `run_sandboxed`.

What holds the child, layer by layer:

- **Its own directory and environment.** The child is `python -I -B` started in a fresh temporary
  directory (the workdir, removed afterwards, whatever happened), with an environment of its own:
  PATH, LANG, HOME and TMPDIR (the workdir) and thread counts. Nothing of the parent's environment
  (API keys) is passed, and reading another process's /proc entries is refused (below).
- **Resource limits** (setrlimit, before exec): address space (`memory_mb`), CPU time (just past the
  wall-clock limit), size of any file written, no core dumps and, for users other than root (it
  does not hold root), processes and threads. A wall-clock timeout kills the child's whole process
  group. Output is read in chunks as it comes and capped per stream (the head of stdout, the tail
  of stderr); the rest is read and dropped, so the parent's memory stays bounded, and the readers
  always reach the end of the pipes, so a run ends even when its output is huge.
- **Namespaces**, where `unshare` works (probed once; `namespaces: false` turns them off): a user
  namespace, a network namespace (no interface but a loopback of its own, down) and, where allowed,
  a PID namespace with its own /proc (nothing else in sight; everything in it dies with the child).
  There `_preamble.py` also makes the whole file system read-only except the workdir, irreversibly
  for the child: the kernel enforces that against any code, native code included.
- **The audit hook** of `_preamble.py`, installed before the code runs: it refuses the network,
  processes, writes outside the workdir, other processes' /proc entries, device files, native code
  from writable places and more, each with a PermissionError naming what is blocked. It is what
  holds where namespaces are missing, and what gives a clear message where they are not; being
  in-process, it is best effort against ctypes and crafted bytecode (see `_preamble.py`).
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

_PREAMBLE = (Path(__file__).with_name("_preamble.py")).read_text(encoding="utf-8")
_NAMESPACE_FLAGS = (("-rn", "--pid", "--fork", "--mount-proc", "--kill-child"), ("-rn",))
_CHUNK_BYTES = 65_536
_SETTLE_S = 2.0


@dataclass(frozen=True)
class Limits:
    timeout_s: float
    memory_mb: int
    max_output_bytes: int
    max_file_bytes: int
    max_processes: int
    namespaces: bool

    @property
    def cpu_s(self) -> int:
        """CPU seconds allowed (RLIMIT_CPU): past the wall-clock limit, so that one normally ends the run."""
        return math.ceil(self.timeout_s) + 1


@dataclass(frozen=True)
class Outcome:
    """How the child ended; `returncode` is None when it ran out of time (negative: killed by that signal)."""

    returncode: int | None
    stdout: str
    stderr: str


async def run_sandboxed(code: str, limits: Limits) -> Outcome:
    """Run `code` in a sandboxed child and return its exit status and (capped) output."""
    workdir = tempfile.mkdtemp(prefix="orchestrate-python-")
    try:
        return await _run_in(workdir, code, limits)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)


async def _run_in(workdir: str, code: str, limits: Limits) -> Outcome:
    process = await _spawn(workdir, limits)
    assert process.stdin and process.stdout and process.stderr
    cap = limits.max_output_bytes
    feed = asyncio.ensure_future(_feed(process.stdin, code.encode()))
    head = asyncio.ensure_future(_read_head(process.stdout, cap))
    tail = asyncio.ensure_future(_read_tail(process.stderr, cap))
    try:
        async with asyncio.timeout(limits.timeout_s):
            await asyncio.wait((feed, head, tail))  # a timeout cancels this wait, not the readers
            returncode = await process.wait()
    except TimeoutError:
        return Outcome(None, "", "")
    finally:
        _kill_group(process.pid)
        await _settle(process, (feed, head, tail))
    return Outcome(returncode, head.result(), tail.result())


async def _settle(process: asyncio.subprocess.Process, tasks: tuple[asyncio.Future, ...]) -> None:
    """After the kill: the readers reach the end of the pipes (a reader stopped early would leave the pipe
    paused and `wait()` waiting forever), then the exit status is collected; each step briefly, never for ever."""
    _, pending = await asyncio.wait(tasks, timeout=_SETTLE_S)
    for task in pending:
        task.cancel()
    try:
        async with asyncio.timeout(_SETTLE_S):
            await process.wait()
    except TimeoutError:
        pass  # something still holds the pipes open; the event loop's child watcher reaps the process


async def _spawn(workdir: str, limits: Limits) -> asyncio.subprocess.Process:
    rlimits = _rlimits(limits, await asyncio.to_thread(_process_limit, limits.max_processes))
    return await asyncio.create_subprocess_exec(
        *await _command(limits),
        cwd=workdir,
        env=_environment(workdir),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=partial(_apply, rlimits),
    )


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    try:
        stdin.write(data)
        await stdin.drain()
        stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the child ended before reading its code; its exit status says why


async def _read_head(stream: asyncio.StreamReader, cap: int) -> str:
    """The first `cap` bytes of the stream as text; the rest is read and dropped."""
    kept, seen = bytearray(), 0
    while chunk := await stream.read(_CHUNK_BYTES):
        seen += len(chunk)
        kept += chunk[: cap - len(kept)]
    return _text(bytes(kept), truncated=seen > cap, cap=cap)


async def _read_tail(stream: asyncio.StreamReader, cap: int) -> str:
    """The last `cap` bytes of the stream as text (an error's last line is what matters)."""
    kept = bytearray()
    while chunk := await stream.read(_CHUNK_BYTES):
        kept += chunk
        del kept[:-cap]
    return kept.decode("utf-8", errors="replace")


def _text(data: bytes, *, truncated: bool, cap: int) -> str:
    text = data.decode("utf-8", errors="replace")
    return f"{text.rstrip()}\n... [output truncated at {cap} bytes]" if truncated else text


async def _command(limits: Limits) -> list[str]:
    prefix = await asyncio.to_thread(_namespace_prefix) if limits.namespaces else ()
    confine = ["--confine"] if prefix else []  # inside a user namespace, the child can make the file system read-only
    return [*prefix, sys.executable, "-I", "-B", "-X", "utf8", "-c", _PREAMBLE, *confine]


@cache
def _namespace_prefix() -> tuple[str, ...]:
    """The `unshare` command line that works on this machine, probed once; empty where none does."""
    unshare = shutil.which("unshare") if sys.platform == "linux" else None
    for flags in _NAMESPACE_FLAGS if unshare else ():
        probe = [unshare, *flags, sys.executable, "-I", "-c", "pass"]
        try:
            if subprocess.run(probe, capture_output=True, timeout=10, check=False).returncode == 0:
                return (unshare, *flags)
        except (OSError, subprocess.SubprocessError):
            continue
    return ()


def _environment(workdir: str) -> dict[str, str]:
    """Just enough for Python and numeric libraries; nothing from the parent's environment."""
    threads = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir, **threads}


def _rlimits(limits: Limits, max_processes: int | None) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) triples: memory, CPU time, file size, no core dumps and, where it holds, processes."""
    memory = limits.memory_mb * 2**20
    triples = [
        (resource.RLIMIT_AS, memory, memory),
        (resource.RLIMIT_CPU, limits.cpu_s, limits.cpu_s + 1),
        (resource.RLIMIT_FSIZE, limits.max_file_bytes, limits.max_file_bytes),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    return triples + ([(resource.RLIMIT_NPROC, max_processes, max_processes)] if max_processes is not None else [])


def _apply(rlimits: list[tuple[int, int, int]]) -> None:
    """Runs in the child between fork and exec."""
    for kind, soft, hard in rlimits:
        try:
            resource.setrlimit(kind, (soft, hard))
        except (ValueError, OSError):
            pass  # a limit this platform does not enforce, or one already lower


def _process_limit(extra: int) -> int | None:
    """RLIMIT_NPROC counts all of a user's processes and threads: allow `extra` more than now."""
    if os.geteuid() == 0 or not os.path.isdir("/proc"):
        return None  # root is not held by RLIMIT_NPROC; the preamble refuses new processes anyway
    return _tasks_of(os.geteuid()) + extra


def _tasks_of(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                count += len(os.listdir(f"/proc/{entry.name}/task"))
        except OSError:
            continue  # the process ended while we looked
    return count


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group has already ended
