"""Code that tries to get out of the `python` tool's sandbox, and the one-line error each attempt gets.

Most escapes run twice: with namespaces (where `unshare` works here: read-only file system, network and
PID namespaces, and the audit hook) and without (the audit hook alone). The messages come from the hook
either way. Nothing may be left behind: each test that aims outside checks the target afterwards.
"""

import asyncio
import dis
import os
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
import types
import uuid
from pathlib import Path

import pytest
from python_tool import failure, run

from tools.sandbox import _namespace_prefix

PREAMBLE = Path(__file__).parents[2] / "tools" / "_preamble.py"
MODES = pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "hook-only"])
WRITE_BLOCKED = "python: PermissionError: writing outside the sandbox directory is blocked"


# Sockets


@MODES
async def test_sockets_reach_nothing_but_a_socketpair_works(namespaces: bool) -> None:
    accepted = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        writer.close()

    unix_dir = tempfile.mkdtemp(prefix="sbx-")  # short: a unix socket path has room for 107 bytes
    tcp = await asyncio.start_server(count, "127.0.0.1", 0)
    unix = await asyncio.start_unix_server(count, os.path.join(unix_dir, "s"))
    port = tcp.sockets[0].getsockname()[1]
    try:
        async with tcp, unix:
            tcp_message = await failure(
                f"import socket\nsocket.socket().connect(('127.0.0.1', {port}))", namespaces=namespaces
            )
            unix_code = f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({unix_dir + '/s'!r})"
            unix_message = await failure(unix_code, namespaces=namespaces)
            udp_code = "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 9))"
            udp_message = await failure(udp_code, namespaces=namespaces)
            dns_message = await failure("import socket\nsocket.getaddrinfo('example.com', 80)", namespaces=namespaces)
            # A socketpair connects the process to itself; asyncio's event loop needs one.
            pair_code = "import asyncio, socket\na, b = socket.socketpair()\na.send(b'ping')\nasyncio.run(asyncio.sleep(0))\nprint(b.recv(4))"
            assert await run(pair_code, namespaces=namespaces) == "b'ping'"
    finally:
        shutil.rmtree(unix_dir, ignore_errors=True)
    assert tcp_message == "python: PermissionError: network access is blocked in the sandbox (socket.connect)"
    assert unix_message == "python: PermissionError: network access is blocked in the sandbox (socket.connect)"
    assert udp_message == "python: PermissionError: network access is blocked in the sandbox (socket.sendto)"
    assert dns_message == "python: PermissionError: network access is blocked in the sandbox (socket.getaddrinfo)"
    assert accepted == 0


# Processes

PROCESS_ESCAPES = {  # pty.fork falls back on os.fork when os.forkpty is refused
    "fork bomb": ("import os\nwhile True:\n    os.fork()", "PermissionError: starting processes is blocked in the sandbox (os.fork)"),
    "subprocess": ("import subprocess\nsubprocess.run(['sh', '-c', 'echo hi'])", "PermissionError: starting processes is blocked in the sandbox (subprocess.Popen)"),
    "os.system": ("import os\nos.system('echo hi')", "PermissionError: starting processes is blocked in the sandbox (os.system)"),
    "posix_spawn": ("import os\nos.posix_spawn('/bin/sh', ['sh'], {})", "PermissionError: starting processes is blocked in the sandbox (os.posix_spawn)"),
    "exec": ("import os\nos.execv('/bin/sh', ['sh'])", "PermissionError: starting processes is blocked in the sandbox (os.exec)"),
    "pty": ("import pty\npty.fork()", "PermissionError: starting processes is blocked in the sandbox (os.fork)"),
    "multiprocessing": ("import multiprocessing as mp\nif __name__ == '__main__':\n    mp.Process(target=print).start()", "PermissionError: starting processes is blocked in the sandbox (os.fork)"),
    "multiprocessing spawn": ("import multiprocessing as mp\nmp.get_context('spawn').Process(target=print).start()", "PermissionError: starting processes is blocked in the sandbox (_posixsubprocess.fork_exec)"),
    "fork_exec": ("import _posixsubprocess\n_posixsubprocess.fork_exec()", "PermissionError: starting processes is blocked in the sandbox (_posixsubprocess.fork_exec)"),
    "fresh fork_exec": ("import importlib.util, _posixsubprocess\nimportlib.util.module_from_spec(_posixsubprocess.__spec__)", "ImportError: importing _posixsubprocess is blocked in the sandbox (starting processes)"),
    "ctypes fork": ("import ctypes\nctypes.CDLL(None).fork()", "PermissionError: calling fork() through ctypes is blocked in the sandbox (ctypes.dlsym)"),
    "ctypes syscall": ("import ctypes\nctypes.CDLL(None).syscall(57)", "PermissionError: calling syscall() through ctypes is blocked in the sandbox (ctypes.dlsym)"),
}  # fmt: skip


@pytest.mark.parametrize("name", PROCESS_ESCAPES)
async def test_starting_a_process_is_refused_at_the_first_attempt(name: str) -> None:
    code, expected = PROCESS_ESCAPES[name]
    assert await failure(code, timeout_s=3) == f"python: {expected}"


async def test_a_thread_bomb_hits_the_sandbox_limits() -> None:
    code = (
        "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()"
    )
    message = await failure(code, memory_mb=200, max_processes=30, timeout_s=5)
    # Contained either way: most machines refuse the thread; on some a thread start stalls at the limit
    # (seen in a fresh virtualenv under namespaces), and the wall-clock limit then ends it.
    assert message in (
        (
            "python: RuntimeError: can't start new thread (the sandbox allows at most 30 threads and processes, "
            "200 MB of memory)"
        ),
        "python: timed out after 5 s",
    )


async def test_signalling_the_parent_is_refused() -> None:
    assert await failure("import os\nos.kill(os.getppid(), 15)", namespaces=False) == (
        "python: PermissionError: signalling other processes is blocked in the sandbox (os.kill)"
    )


# Memory, CPU and output


async def test_a_numpy_memory_bomb_is_stopped_by_the_memory_limit() -> None:
    pytest.importorskip("numpy")
    message = await failure("import numpy\nnumpy.ones(10**10)", memory_mb=300)
    assert message.startswith("python: numpy") and message.endswith("(over the memory limit of 300 MB)")


async def test_spinning_threads_time_out() -> None:
    code = "import threading\ndef spin():\n    while True:\n        pass\nthreading.Thread(target=spin, daemon=True).start()\nspin()"
    assert await failure(code, timeout_s=1) == "python: timed out after 1 s"


async def test_a_hundred_megabytes_of_stdout_are_cut_and_the_parent_stays_small() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    output = await run("import sys\nsys.stdout.write('x' * 100_000_000)", max_output_bytes=1000)
    assert output == "x" * 1000 + "\n... [output truncated at 1000 bytes]"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


async def test_a_hundred_megabytes_of_stderr_make_a_short_error() -> None:
    message = await failure("import sys\nsys.stderr.write('y' * 100_000_000)\nsys.exit(1)")
    assert message == "python: " + "y" * 1000 + " ... [cut]"


async def test_endless_output_times_out_on_time() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await failure("while True:\n    print('spam' * 1000)", timeout_s=1) == "python: timed out after 1 s"
    assert loop.time() - start < 4  # the readers drain the pipes after the kill instead of waiting on them


# The parent's environment

SECRET = "sk-test-" + uuid.uuid4().hex


@pytest.fixture
def holder():  # type: ignore[no-untyped-def]
    """A process with the secret in its initial environment, where /proc shows it (the test's own does not)."""
    process = subprocess.Popen(["sleep", "30"], env={"OPENAI_API_KEY": SECRET})
    yield process
    process.kill()
    process.wait()


@MODES
async def test_the_parents_secrets_are_out_of_reach(
    namespaces: bool, holder: subprocess.Popen, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    code = f"""
import os
attempts = {{
    'os.environ': lambda: repr(dict(os.environ)),
    'own environ': lambda: open('/proc/self/environ', 'rb').read(),
    'parent environ': lambda: open(f'/proc/{{os.getppid()}}/environ', 'rb').read(),
    'via self/..': lambda: open(f'/proc/self/../{{os.getppid()}}/environ', 'rb').read(),
    'holder environ': lambda: open('/proc/{holder.pid}/environ', 'rb').read(),
    'holder task': lambda: open('/proc/{holder.pid}/task/{holder.pid}/environ', 'rb').read(),
    'via dir_fd': lambda: os.read(os.open('{holder.pid}/environ', os.O_RDONLY, dir_fd=os.open('/proc', os.O_RDONLY)), 99999),
    'via /dev/fd': lambda: open('/dev/fd/../../{holder.pid}/environ', 'rb').read(),
    'holder cmdline': lambda: open('/proc/{holder.pid}/cmdline', 'rb').read(),
}}
for pid in os.listdir('/proc'):
    if pid.isdigit():
        attempts['environ of ' + pid] = lambda pid=pid: open(f'/proc/{{pid}}/environ', 'rb').read()
for name, attempt in attempts.items():
    try:
        print(name, 'read', attempt())
    except OSError as error:
        print(name, 'refused', type(error).__name__, error)
"""
    output = await run(code, namespaces=namespaces)
    direct = await failure(f"open('/proc/{holder.pid}/environ').read()", namespaces=namespaces)
    assert SECRET not in output and "OPENAI_API_KEY" not in output
    assert "PermissionError reading other processes' /proc entries is blocked in the sandbox" in output
    assert direct == (
        "python: PermissionError: reading other processes' /proc entries is blocked in the sandbox "
        f"(open /proc/{holder.pid}/environ)"
    )


# Writing outside the sandbox directory


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A directory outside the sandbox with one file in it, and a HOME of its own; both unchanged afterwards."""
    home, target = tmp_path / "home", tmp_path / "outside"
    home.mkdir()
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    monkeypatch.setenv("HOME", str(home))
    token = uuid.uuid4().hex[:8]
    strays = [Path(tempfile.gettempdir(), f"escaped-{token}"), Path("/tmp", f"escaped-{token}"), Path("/dev/shm", f"escaped-{token}")]  # fmt: skip
    yield {"home": str(home.resolve()), "outside": str(target.resolve()), "token": token}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "outside"] and not any(home.iterdir())
    assert [p.name for p in target.iterdir()] == ["keep.txt"] and (target / "keep.txt").read_text() == "keep"
    assert stat.S_IMODE((target / "keep.txt").stat().st_mode) != 0o777
    assert not any(stray.exists() or stray.is_symlink() for stray in strays)


TMP = os.path.realpath(tempfile.gettempdir())
WRITE_ESCAPES = {
    "home directory": ("open('{home}/.bashrc', 'a').write('evil')", "open {home}/.bashrc"),
    "pathlib": ("import pathlib\npathlib.Path('{outside}/new.txt').write_text('x')", "open {outside}/new.txt"),
    "os.open O_CREAT": ("import os\nos.open('{outside}/new.txt', os.O_CREAT | os.O_WRONLY)", "open {outside}/new.txt"),
    "open r+": ("open('{outside}/keep.txt', 'r+').write('evil')", "open {outside}/keep.txt"),
    "shutil.copy": ("import shutil\nopen('a', 'w').close()\nshutil.copy('a', '{outside}/copy')", "shutil.copyfile {outside}/copy"),
    "symlink out": ("import os\nos.symlink('{outside}', 'out')\nopen('out/via-link', 'w')", "open {outside}/via-link"),
    "dot dot": ("open('../escaped-{token}', 'w')", "open " + TMP + "/escaped-{token}"),
    "/tmp": ("open('/tmp/escaped-{token}', 'w')", "open " + os.path.realpath("/tmp") + "/escaped-{token}"),
    "/dev/shm": ("open('/dev/shm/escaped-{token}', 'w')", "open /dev/shm/escaped-{token}"),
    "chdir": ("import os\nos.chdir('{outside}')\nopen('relative.txt', 'w')", "open {outside}/relative.txt"),
    "dir_fd open": ("import os\nfd = os.open('{outside}', os.O_RDONLY)\nos.open('by-fd', os.O_CREAT | os.O_WRONLY, dir_fd=fd)", "open {outside}/by-fd"),
    "dir_fd symlink": ("import os\nos.mkdir('d')\nos.symlink('{outside}', 'd/s')\nos.mkdir('s')\nfd = os.open('d', os.O_RDONLY)\nos.open('s/x', os.O_CREAT | os.O_WRONLY, dir_fd=fd)", "open {outside}/x"),
    "dir_fd mkdir": ("import os\nos.mkdir('d', dir_fd=os.open('{outside}', os.O_RDONLY))", "os.mkdir {outside}/d"),
    "remove": ("import os\nos.remove('{outside}/keep.txt')", "os.remove {outside}/keep.txt"),
    "rename in": ("import os\nos.rename('{outside}/keep.txt', 'stolen')", "os.rename {outside}/keep.txt"),
    "hard link": ("import os\nos.link('{outside}/keep.txt', 'linked')", "os.link {outside}/keep.txt"),
    "chmod": ("import os\nos.chmod('{outside}/keep.txt', 0o777)", "os.chmod {outside}/keep.txt"),
    "truncate": ("import os\nos.truncate('{outside}/keep.txt', 0)", "os.truncate {outside}/keep.txt"),
    "utime": ("import os\nos.utime('{outside}/keep.txt', (0, 0))", "os.utime {outside}/keep.txt"),
    "rmtree": ("import shutil\nshutil.rmtree('{outside}')", "shutil.rmtree {outside}"),
    "mkstemp": ("import tempfile\ntempfile.mkstemp(dir='{outside}')", "tempfile.mkstemp {outside}/tmp"),
    "sqlite": ("import sqlite3\nsqlite3.connect('{outside}/db.sqlite')", "sqlite3.connect {outside}/db.sqlite"),
}  # fmt: skip


@MODES
@pytest.mark.parametrize("name", WRITE_ESCAPES)
async def test_writing_outside_the_sandbox_directory_is_refused(name: str, namespaces: bool, outside: dict) -> None:
    code, shown = (part.format(**outside) for part in WRITE_ESCAPES[name])
    message = await failure(code, namespaces=namespaces)
    assert message.startswith(f"{WRITE_BLOCKED} ({shown}") and message.endswith(")")


async def test_fifos_and_device_nodes_are_refused(outside: dict) -> None:
    assert await failure(f"import os\nos.mkfifo('{outside['outside']}/fifo')") == (
        "python: PermissionError: making FIFOs and device files is blocked in the sandbox (os.mkfifo)"
    )
    devices = [d for d in ("/dev/tty", "/dev/ptmx", "/dev/console", "/dev/kmsg") if Path(d).exists()]
    if devices:
        assert await failure(f"open({devices[0]!r}, 'rb')") == (
            f"python: PermissionError: opening device files is blocked in the sandbox (open {devices[0]})"
        )
    assert await run("print(open('/dev/null', 'w').write('x'), len(open('/dev/urandom', 'rb').read(4)))") == "1 4"


@MODES
async def test_ordinary_file_work_inside_the_sandbox_directory_still_works(namespaces: bool) -> None:
    code = """
import os, pathlib, shutil, sqlite3, shelve, tempfile, zipfile
open('a.txt', 'w').write('a')
os.mkdir('d'); os.makedirs('d/e/f'); os.rename('a.txt', 'd/a.txt'); shutil.copy('d/a.txt', 'b.txt')
os.symlink('b.txt', 'link'); open('link', 'a').write('b'); os.chmod('b.txt', 0o600); os.utime('b.txt')
fd = os.open('c.txt', os.O_CREAT | os.O_WRONLY); os.write(fd, b'c'); os.close(fd)
pathlib.Path('p').touch(); pathlib.Path('p').unlink(); pathlib.Path('q.txt').write_text('q')
with open(os.path.expanduser('~/.rc'), 'w') as f: f.write('home is the sandbox directory')
with tempfile.TemporaryDirectory() as t, tempfile.NamedTemporaryFile() as n: open(t + '/x', 'w').write('x')
sqlite3.connect('db.sqlite').execute('create table t (x)')
with shelve.open('shelf') as s: s['k'] = 1
with zipfile.ZipFile('z.zip', 'w') as z: z.writestr('inner', 'data')
shutil.rmtree('d'); os.remove('link')
print(open('b.txt').read(), sorted(os.listdir('.')))
"""
    output = await run(code, namespaces=namespaces)
    assert output.startswith("ab ['.rc', 'b.txt', 'c.txt', 'db.sqlite', 'q.txt', 'shelf")
    if namespaces and _namespace_prefix():  # the kernel holds the rest of the file system read-only too
        flags = (
            "import os\nprint(bool(os.statvfs('/').f_flag & os.ST_RDONLY), bool(os.statvfs('.').f_flag & os.ST_RDONLY))"
        )
        assert await run(flags, namespaces=True) == "True False"


async def test_numpy_and_sympy_still_work() -> None:
    pytest.importorskip("numpy")
    pytest.importorskip("sympy")
    code = (
        "import numpy as np, sympy\nx = sympy.symbols('x')\nnp.save('a.npy', np.arange(3))\n"
        "print(sympy.integrate(2 * x, x), np.load('a.npy').sum())"
    )
    assert await run(code) == "x**2 3"


def test_the_kernel_keeps_the_file_system_read_only_without_the_hook(tmp_path: Path) -> None:
    prefix = _namespace_prefix()
    if not prefix:
        pytest.skip("unshare does not work here")
    workdir, target = tmp_path / "work", tmp_path / "outside"
    workdir.mkdir()
    target.mkdir()
    # The preamble's confinement alone, no audit hook: even a shell it starts cannot write outside or remount.
    script = f"""
import os, subprocess
namespace = {{'__name__': 'preamble'}}
exec(open({str(PREAMBLE)!r}).read(), namespace)
print(namespace['_confine'](os.getcwd()))
for path in ('inside.txt', {str(target / "python.txt")!r}):
    try:
        open(path, 'w').write('x')
        print('wrote', os.path.basename(path))
    except OSError as error:
        print('refused', os.path.basename(path), error.errno)
shell = 'echo x > {target}/shell.txt; mount -o remount,rw / 2>/dev/null || echo no remount'
print(subprocess.run(['sh', '-c', shell], capture_output=True, text=True).stdout.strip())
"""
    result = subprocess.run([*prefix, sys.executable, "-I", "-c", script], check=False, cwd=workdir, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.stdout.split("\n") == ["True", "wrote inside.txt", "refused python.txt 30", "no remount", ""]
    assert not any(target.iterdir()) and (workdir / "inside.txt").read_text() == "x"


# The hook itself


async def test_the_hook_cannot_be_switched_off_through_its_frames() -> None:
    probe = """
import os
try:
    os.fork()
except PermissionError as error:
    traceback = error.__traceback__
    while traceback.tb_next:
        traceback = traceback.tb_next
    frame = traceback.tb_frame  # the hook's own frame, with everything it uses in its locals
    for name, value in frame.f_locals.items():
        changes = [lambda: setattr(value, '__defaults__', ()), lambda: delattr(value, '__defaults__'),
                   lambda: setattr(value, '__code__', (lambda *args: None).__code__)]
        for change in changes if type(value) is type(os.walk) else ():
            try:
                change()
                print('changed', name)
            except PermissionError as refusal:
                print(refusal)
        if isinstance(value, (dict, list, set)):
            print('mutable', name)
    frame.f_locals.clear()
    frame.clear()
"""
    printed = await run(probe)
    assert "mutable" not in printed and "changed" not in printed
    assert "changing the sandbox's own functions is blocked in the sandbox (object.__setattr__)" in printed
    assert "changing the sandbox's own functions is blocked in the sandbox (object.__delattr__)" in printed
    assert await failure(probe + "os.fork()") == (
        "python: PermissionError: starting processes is blocked in the sandbox (os.fork)"
    )


def test_the_hooks_functions_look_up_no_global_and_hold_nothing_mutable() -> None:
    namespace: dict = {"__name__": "preamble"}
    exec(compile(PREAMBLE.read_text(), str(PREAMBLE), "exec"), namespace)  # noqa: S102 - defines, runs nothing
    immutable = (str, int, bool, tuple, frozenset, types.MappingProxyType, types.BuiltinFunctionType, types.FunctionType,
                 types.WrapperDescriptorType, types.MethodDescriptorType, type, type(None))  # fmt: skip
    for function in namespace["_HOOK"]:
        lookups = [
            i.argval for i in dis.get_instructions(function) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF")
        ]
        assert lookups == [] and function.__closure__ is None and function.__kwdefaults__ is None, function.__name__
        assert all(isinstance(value, immutable) for value in function.__defaults__ or ()), function.__name__


INTERPRETER_ESCAPES = {
    "gc": ("import gc\ngc.get_objects()", "PermissionError: inspecting the interpreter is blocked in the sandbox (gc.get_objects)"),
    "frames of threads": ("import sys\nsys._current_frames()", "PermissionError: inspecting the interpreter is blocked in the sandbox (sys._current_frames)"),
    "rlimit": ("import resource\nresource.setrlimit(resource.RLIMIT_CPU, (-1, -1))", "PermissionError: changing resource limits is blocked in the sandbox (resource.setrlimit)"),
    "cffi": ("import _cffi_backend", "ImportError: importing _cffi_backend is blocked in the sandbox (calling C through cffi)"),
    "ctypes open": ("import ctypes\nctypes.CDLL(None).open(b'/tmp/x', 65)", "PermissionError: calling open() through ctypes is blocked in the sandbox (ctypes.dlsym)"),
    "ctypes alias": ("import ctypes\nctypes.CDLL(None).__open64_2", "PermissionError: calling __open64_2() through ctypes is blocked in the sandbox (ctypes.dlsym)"),
    "ctypes unlink": ("import ctypes\nctypes.CDLL(None).unlinkat", "PermissionError: calling unlinkat() through ctypes is blocked in the sandbox (ctypes.dlsym)"),
    "syslog": ("import syslog\nsyslog.syslog('hello')", "PermissionError: writing to the system log is blocked in the sandbox (syslog.syslog)"),
}  # fmt: skip


@pytest.mark.parametrize("name", INTERPRETER_ESCAPES)
async def test_ways_around_the_hook_are_refused(name: str) -> None:
    code, expected = INTERPRETER_ESCAPES[name]
    assert await failure(code) == f"python: {expected}"


async def test_native_code_written_in_the_sandbox_is_not_loaded() -> None:
    library = await failure("open('evil.so', 'wb').write(b'ELF')\nimport ctypes\nctypes.CDLL('./evil.so')")
    assert library.startswith("python: PermissionError: loading native code from /")
    assert library.endswith("/evil.so is blocked in the sandbox (ctypes.dlopen)")
    module = (
        "import importlib.machinery, sys\nopen('evil' + importlib.machinery.EXTENSION_SUFFIXES[0], 'wb').write(b'ELF')\n"
        "sys.path.insert(0, '.')\nimport evil"
    )
    extension = await failure(module)
    assert extension.startswith("python: PermissionError: loading native code from /")
    assert extension.endswith(" is blocked in the sandbox (import)")
    memfd = "import ctypes\nctypes.CDLL('/proc/self/fd/0')"  # stdin: a pipe, like a memfd not a file
    assert await failure(memfd) == (
        "python: PermissionError: loading native code from /proc/self/fd/0 is blocked in the sandbox (ctypes.dlopen)"
    )
