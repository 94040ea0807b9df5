"""The first code the `python` tool's sandboxed child runs: confine it, guard it, then run the program.

`tools.sandbox` passes this file's text to `python -I -c`, started in the run's temporary directory
(the *workdir*); orchestrate never imports it. It reads the program from stdin, then:

1. **Confines the file system** (only with `--confine`, which the sandbox passes where `unshare` gave
   the child a user namespace of its own). In a mount namespace of its own, every mount is made
   read-only except a bind mount of the workdir; then the child enters one more user namespace, in
   which it holds no capability over those mounts (and runs as `nobody`), so nothing it does or
   starts can make them writable again. The kernel enforces this whatever the code does (ctypes,
   native code, crafted bytecode). Best effort: where a step fails (a kernel before 5.12 has no
   `mount_setattr`), the audit hook below still holds.
2. **Installs an audit hook** (`sys.addaudithook`; code cannot remove one) that raises
   PermissionError, naming what it blocks, for:
   - the network: connect, bind, sendto, sendmsg and name lookups. Creating sockets is allowed, and so
     is `socket.socketpair()`: it connects the process to itself, and asyncio needs it;
   - processes: fork, exec, spawn, `os.system`, subprocess, `_posixsubprocess.fork_exec` (replaced
     before the code runs, and never loaded afresh), sub-interpreters, signalling other processes;
   - writing outside the workdir: `open` and `os.open` with a mode or flags that write, create,
     truncate or append; remove, rename (both ends), mkdir, rmdir, symlink, link (both ends: a hard
     link to an outside file would make it writable from inside), chmod, chown, truncate, utime,
     xattrs, shutil's copy/move/rmtree/chown/archives, tempfile and sqlite3 databases. `os.mkfifo`
     and `os.mknod` are refused outright. A path is resolved the way the kernel would: against the
     cwd or its `dir_fd` (read from /proc/self/fd), through `..` and symlinks. `os.open` tells its
     event no `dir_fd`, so a relative path it is given must stay inside against every open
     directory. /dev/null, /dev/zero, /dev/full, /dev/random and /dev/urandom may be written;
   - opening other device files, and other processes' /proc entries (where the parent's environment
     lies; the child's own environment is the sandbox's, with nothing of the parent's);
   - changing resource limits or namespaces, walking the garbage collector, loading native code from
     the workdir or /proc (a memfd), the system log, cffi, sqlite extensions, and C functions called
     through ctypes that would do any of the above.

   The hook and its helpers look up no global or builtin name, hold only immutable data and refuse
   changes to their own code and defaults, so code that reaches their frames through a traceback
   changes nothing.

What the hook cannot promise (and why step 1 matters): it checks a path and then the kernel resolves
it again, so a second thread swapping a symlink in between can win that race, and a PathLike object
can answer `__fspath__` differently the second time; ctypes gives raw memory access, and crafted
bytecode can corrupt the interpreter, either of which can switch the hook off; a fresh `posix`
module from `_imp.create_builtin` has the original `mkfifo` and `mknod` (and, where a Python build
has `_posixsubprocess` built in, a fresh `fork_exec`), with no audit event to refuse. Without
namespaces those holes stay open; with them, the read-only file system and the network and process
namespaces hold regardless. Reading files is not restricted.
"""

import os
import sys
import types

_NETWORK = "network access"
_PROCESSES = "starting processes"
_REFUSED = {
    "socket.connect": _NETWORK,
    "socket.bind": _NETWORK,
    "socket.sendto": _NETWORK,
    "socket.sendmsg": _NETWORK,
    "socket.getaddrinfo": _NETWORK,
    "socket.gethostbyname": _NETWORK,
    "socket.gethostbyaddr": _NETWORK,
    "socket.getnameinfo": _NETWORK,
    "socket.sethostname": "changing the host name",
    "os.fork": _PROCESSES,
    "os.forkpty": _PROCESSES,
    "os.exec": _PROCESSES,
    "os.posix_spawn": _PROCESSES,
    "os.spawn": _PROCESSES,
    "os.system": _PROCESSES,
    "os.startfile": _PROCESSES,
    "subprocess.Popen": _PROCESSES,
    "cpython.PyInterpreterState_New": "starting sub-interpreters",
    "os.killpg": "signalling other processes",
    "os.unshare": "changing namespaces",
    "os.setns": "changing namespaces",
    "resource.setrlimit": "changing resource limits",
    "resource.prlimit": "changing resource limits",
    "gc.get_objects": "inspecting the interpreter",
    "gc.get_referrers": "inspecting the interpreter",
    "gc.get_referents": "inspecting the interpreter",
    "sys._current_frames": "inspecting the interpreter",
    "syslog.openlog": "writing to the system log",
    "syslog.syslog": "writing to the system log",
    "sqlite3.enable_load_extension": "loading native code",
    "sqlite3.load_extension": "loading native code",
}
# Events that change the file system: for each path argument, (its index, the index of its dir_fd or -1).
_MUTATIONS = {
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.mkdir": ((0, 2),),
    "os.rename": ((0, 2), (1, 3)),
    "os.symlink": ((1, 2),),
    "os.link": ((0, 2), (1, 3)),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.chflags": ((0, -1),),
    "os.lchflags": ((0, -1),),
    "os.truncate": ((0, -1),),
    "os.utime": ((0, 3),),
    "os.setxattr": ((0, -1),),
    "os.removexattr": ((0, -1),),
    "shutil.copyfile": ((1, -1),),
    "shutil.copymode": ((1, -1),),
    "shutil.copystat": ((1, -1),),
    "shutil.copytree": ((1, -1),),
    "shutil.move": ((0, -1), (1, -1)),
    "shutil.rmtree": ((0, 1),),
    "shutil.chown": ((0, -1),),
    "shutil.make_archive": ((0, -1),),
    "shutil.unpack_archive": ((1, -1),),
    "tempfile.mkstemp": ((0, -1),),
    "tempfile.mkdtemp": ((0, -1),),
}
_READERS = frozenset({"os.listdir", "os.scandir", "os.chdir", "os.walk", "os.fwalk"})
# Modules whose import is refused: (the reason, for an ImportError, so that code falling back on one works).
_MODULES = {
    "_posixsubprocess": _PROCESSES,  # a fresh copy would have the real fork_exec
    "_cffi_backend": "calling C through cffi",
    "_dbm": "C code writing files unchecked (dbm falls back on dbm.dumb)",
    "_gdbm": "C code writing files unchecked (dbm falls back on dbm.dumb)",
}
# C functions refused through ctypes, by stem: "__open64_2" and "__libc_fork" count as "open" and "fork".
_NATIVE = frozenset({
    "connect", "bind", "sendto", "sendmsg", "sendmmsg", "socket", "getaddrinfo", "gethostbyname",
    "fork", "vfork", "clone", "clone3", "execve", "execveat", "fexecve", "execv", "execvp", "execvpe", "execl",
    "execlp", "execle", "posix_spawn", "posix_spawnp", "system", "popen", "syscall", "kill", "killpg", "tgkill",
    "tkill", "sigqueue", "pidfd_send_signal", "ptrace", "process_vm_readv", "process_vm_writev",
    "setrlimit", "prlimit", "unshare", "setns", "chroot", "pivot_root", "mount", "umount", "umount2",
    "mount_setattr", "move_mount", "open_tree", "fsopen", "fsmount", "open_by_handle_at", "name_to_handle_at",
    "open", "openat", "openat2", "creat", "fopen", "freopen", "unlink", "unlinkat", "remove", "rename",
    "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "symlink", "symlinkat", "link", "linkat", "chmod",
    "fchmod", "fchmodat", "lchmod", "chown", "fchown", "lchown", "fchownat", "truncate", "ftruncate", "utime",
    "utimes", "utimensat", "futimens", "futimes", "lutimes", "futimesat", "mknod", "mknodat", "mkfifo",
    "mkfifoat", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "dlopen", "dlmopen", "dlsym", "dlvsym", "mmap", "mprotect", "pkey_mprotect", "memfd_create",
    "io_uring_setup", "io_uring_enter", "bpf", "perf_event_open", "init_module", "finit_module",
})  # fmt: skip
_DEVICES = frozenset({"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"})
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_S_IFMT, _S_IFLNK, _S_IFDIR, _SPECIAL = 0o170000, 0o120000, 0o040000, (0o020000, 0o060000)  # char, block

# The hook's functions below take everything they use as parameters with defaults bound here, and look up
# no global or builtin name (a test checks): code that rebinds globals or builtins cannot change them.


def _text(path, fspath=os.fspath, is_a=isinstance, text=str, data=bytes, number=int, as_str=str.__str__,
          decode=bytes.decode, as_int=int.__index__):  # fmt: skip
    """A path argument as an exact str, an int (a file descriptor) or None."""
    if path is None or is_a(path, number):
        return None if path is None else as_int(path)
    if not is_a(path, text) and not is_a(path, data):
        path = fspath(path)  # best effort: a PathLike object computes its own path, and may change its mind
    return as_str(path) if is_a(path, text) else decode(path, "utf-8", "surrogateescape")


def _resolve(path, base, lstat=os.lstat, readlink=os.readlink, error=OSError):
    """`path` made absolute against `base` and followed through `..` and symlinks as the kernel would
    (components that do not exist are kept as written); None for a /proc link naming no file (a pipe)."""
    todo = (path if path.startswith("/") else base + "/" + path).split("/")
    todo.reverse()
    done, links = "", 0
    while todo:
        part = todo.pop()
        if part == "" or part == ".":
            continue
        if part == "..":
            done = done[: done.rfind("/")] if done else done
            continue
        here = done + "/" + part
        try:
            target = readlink(here) if lstat(here).st_mode & 0o170000 == 0o120000 else None
        except error:
            target = None
        if target is None:
            done = here
            continue
        links += 1
        if links > 40:
            return here  # the kernel gives up here too (ELOOP)
        if target.startswith("/"):
            done = ""
        elif done.startswith("/proc/") and ":" in target:
            return None  # pipe:[12], socket:[34], anon_inode:[eventfd]
        more = target.split("/")
        more.reverse()
        todo.extend(more)
    return done or "/"


def _fd_place(fd, readlink=os.readlink, resolve=_resolve, error=OSError):
    """Where an open file descriptor points: a resolved path, None for a pipe or socket, "" if unknown."""
    try:
        target = readlink(f"/proc/self/fd/{fd}")
    except error:
        return ""
    return resolve(target, "/") if target.startswith("/") else None


def _directories(listdir=os.listdir, readlink=os.readlink, stat=os.stat, error=OSError):
    """The directories this process holds open: where an `os.open(..., dir_fd=...)` could start from."""
    found = []
    try:
        names = listdir("/proc/self/fd")
    except error:
        return found
    for name in names:
        try:
            target = readlink("/proc/self/fd/" + name)
            if target.startswith("/") and stat(target).st_mode & 0o170000 == 0o040000:
                found.append(target)
        except error:
            continue
    return found


def _places(path, dir_fd, every_directory, text=_text, resolve=_resolve, fd_place=_fd_place,
            directories=_directories, getcwd=os.getcwd, error=OSError, is_a=isinstance, number=int):  # fmt: skip
    """Where a path argument leads: resolved paths (None: a pipe or socket; "": cannot be told). Relative
    to `dir_fd` if one is given, else to the cwd and, with `every_directory`, to every open directory."""
    path = text(path)
    if path is None:
        return []
    if is_a(path, number):
        return [fd_place(path)]
    if path.startswith("/"):
        return [resolve(path, "/")]
    if dir_fd is not None and dir_fd != -1:
        base = fd_place(dir_fd)
        return [resolve(path, base) if base else ""]
    try:
        bases = [getcwd()]
    except error:
        return [""]  # the cwd was removed
    if every_directory:
        bases.extend(directories())
    found = []
    for base in bases:
        found.append(resolve(path, base))
    return found


def _outside(place, workdir, inside, devices):
    """Whether writing at a resolved `place` would write outside the workdir ("": unknown, so yes)."""
    return place is not None and place != workdir and not place.startswith(inside) and place not in devices


def _other_process(place, pid):
    """Whether `place` is in another process's /proc directory (`pid` is this one's, as text)."""
    if not place or not place.startswith("/proc/"):
        return False
    number = place[6:].partition("/")[0]
    return number.isdigit() and number != pid


def _loadable(place, workdir, inside, stat=os.stat, error=OSError):
    """Whether native code may be loaded from a resolved `place`: a regular file the sandbox could not have written
    (not a pipe, a memfd or anything in /proc or /dev)."""
    if not place or place == workdir or place.startswith((inside, "/proc/", "/dev/")):
        return False
    try:
        return stat(place).st_mode & 0o170000 == 0o100000
    except error:
        return False


def _native_stem(name):
    """The function a C symbol name stands for: "__open64_2" -> "open", "__libc_fork" -> "fork"."""
    stem = name.lstrip("_").removeprefix("libc_")
    for suffix in ("_nocancel", "_chk", "_2", "_time64", "64"):
        stem = stem.removesuffix(suffix)
    return stem


def _sqlite_file(database, text=_text, is_a=isinstance, string=str):
    """The file sqlite3.connect(database) may write, or None (in memory, or a read-only URI)."""
    name = text(database)
    if not is_a(name, string) or name == "" or name == ":memory:":
        return None
    if name.startswith("file:"):  # a URI if the caller says uri=True; checking it as one is the stricter reading
        name, _, query = name[5:].partition("?")
        if "mode=memory" in query or "mode=ro" in query:
            return None
        if name.startswith("//"):  # file://host/path
            slash = name.find("/", 2)
            name = name[slash:] if slash >= 0 else ""
    return name or None


def _guard(
    event,
    args,
    refused=types.MappingProxyType(_REFUSED),
    mutations=types.MappingProxyType(_MUTATIONS),
    readers=_READERS,
    modules=types.MappingProxyType(_MODULES),
    native=_NATIVE,
    devices=_DEVICES,
    writing=_WRITING,
    workdir="",
    inside="",
    pid="",
    pid_number=0,
    places=_places,
    outside=_outside,
    other_process=_other_process,
    loadable=_loadable,
    native_stem=_native_stem,
    sqlite_file=_sqlite_file,
    stat=os.stat,
    error=PermissionError,
    import_error=ImportError,
    os_error=OSError,
    is_a=isinstance,
    size=len,
    string=str,
    data=bytes,
    number=int,
    function=types.FunctionType,
    own_codes=(),
):
    """The audit hook: returns to allow `event`, raises to refuse it."""
    what = refused.get(event)
    if what is not None:
        raise error(f"{what} is blocked in the sandbox ({event})")
    if event == "open":  # (path, mode, flags): builtins.open and io.open give a mode, os.open gives None
        if size(args) < 3 or is_a(args[0], number):
            return  # wraps a descriptor already open
        writes = is_a(args[2], number) and args[2] & writing
        for place in places(args[0], None, args[1] is None):
            if other_process(place, pid):
                raise error(f"reading other processes' /proc entries is blocked in the sandbox ({event} {place})")
            try:
                kind = stat(place).st_mode & 0o170000 if place else 0
            except os_error:
                kind = 0
            if (kind == 0o020000 or kind == 0o060000) and place not in devices:
                raise error(f"opening device files is blocked in the sandbox ({event} {place})")
            if writes and outside(place, workdir, inside, devices):
                raise error(f"writing outside the sandbox directory is blocked ({event} {place or args[0]})")
        return
    spots = mutations.get(event)
    if spots is not None:
        for index, fd_index in spots:
            if index < size(args):
                dir_fd = args[fd_index] if 0 <= fd_index < size(args) else None
                for place in places(args[index], dir_fd, False):
                    if outside(place, workdir, inside, devices):
                        shown = place or args[index]
                        raise error(f"writing outside the sandbox directory is blocked ({event} {shown})")
        return
    if event in readers:
        for place in places(args[0], None, False) if size(args) >= 1 else ():
            if other_process(place, pid):
                raise error(f"reading other processes' /proc entries is blocked in the sandbox ({event} {place})")
    elif event == "import" and size(args) >= 2:  # (name, filename, ...): a filename when native code loads
        name = args[0].rpartition(".")[2] if is_a(args[0], string) else ""
        if name in modules:
            raise import_error(f"importing {name} is blocked in the sandbox ({modules[name]})")
        for place in places(args[1], None, False) if is_a(args[1], string) or is_a(args[1], data) else ():
            if not loadable(place, workdir, inside):
                raise error(f"loading native code from {place or args[1]} is blocked in the sandbox ({event})")
    elif event == "ctypes.dlopen" and size(args) >= 1:
        name = args[0].decode("utf-8", "surrogateescape") if is_a(args[0], data) else args[0]
        for place in places(name, None, False) if is_a(name, string) and "/" in name else ():
            if not loadable(place, workdir, inside):
                raise error(f"loading native code from {place or name} is blocked in the sandbox ({event})")
    elif event == "ctypes.dlsym" or event == "ctypes.dlsym/handle":
        if size(args) >= 2 and is_a(args[1], string) and native_stem(args[1]) in native:
            raise error(f"calling {args[1]}() through ctypes is blocked in the sandbox ({event})")
    elif event == "os.kill":
        if size(args) >= 1 and args[0] != 0 and args[0] != pid_number:
            raise error(f"signalling other processes is blocked in the sandbox ({event})")
    elif event == "object.__setattr__" or event == "object.__delattr__":  # (object, name[, value])
        protected = size(args) >= 2 and args[1] in ("__code__", "__defaults__", "__kwdefaults__")
        if protected and is_a(args[0], function) and args[0].__code__ in own_codes:
            raise error(f"changing the sandbox's own functions is blocked in the sandbox ({event})")
    elif event == "sqlite3.connect" and size(args) >= 1:
        name = sqlite_file(args[0])
        for place in places(name, None, False) if name is not None else ():
            if outside(place, workdir, inside, ()):
                raise error(f"writing outside the sandbox directory is blocked ({event} {place or name})")


_HOOK = (_text, _resolve, _fd_place, _directories, _places, _outside, _other_process, _loadable, _native_stem,
         _sqlite_file, _guard)  # fmt: skip


def _refusing(what, event):
    def refuse(*args, **kwargs):
        raise PermissionError(f"{what} is blocked in the sandbox ({event})")

    return refuse


def _disarm() -> None:
    """Replace the functions that would start a process or make a special file without an audit event."""
    import _posixsubprocess  # here, before the code runs, so that the code never loads it afresh
    import posix

    _posixsubprocess.fork_exec = _refusing(_PROCESSES, "_posixsubprocess.fork_exec")
    for name in ("mkfifo", "mknod"):
        refuse = _refusing("making FIFOs and device files", f"os.{name}")
        for module in (os, posix):
            if hasattr(module, name):
                setattr(module, name, refuse)


def _confine(workdir: str) -> bool:
    """Make every mount read-only but `workdir`, for good; False where the kernel would not (see above)."""
    import ctypes  # only here: confining takes system calls that Python has no function for

    class MountAttr(ctypes.Structure):
        _fields_ = [(name, ctypes.c_uint64) for name in ("attr_set", "attr_clr", "propagation", "userns_fd")]

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    clone_newns, clone_newuser, ms_bind, ms_rec, ms_private = 0x20000, 0x10000000, 0x1000, 0x4000, 0x40000
    sys_mount_setattr, at_fdcwd, at_recursive, mount_attr_rdonly = 442, -100, 0x8000, 1  # 442 but on alpha
    path = os.fsencode(workdir)

    def check(result: int) -> None:
        if result != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))

    def read_only(where: bytes, on: bool) -> None:
        attr = MountAttr(attr_set=mount_attr_rdonly if on else 0, attr_clr=0 if on else mount_attr_rdonly)
        size = ctypes.c_size_t(ctypes.sizeof(attr))
        check(libc.syscall(ctypes.c_long(sys_mount_setattr), at_fdcwd, where, at_recursive, ctypes.byref(attr), size))

    try:
        check(libc.unshare(clone_newns))
        check(libc.mount(None, b"/", None, ms_rec | ms_private, None))  # nothing propagates back out
        check(libc.mount(path, path, None, ms_bind | ms_rec, None))  # the workdir becomes a mount of its own
        os.chdir(workdir)  # into that mount: the cwd still points into the one below
        read_only(b"/", True)
    except OSError:
        return False
    try:
        read_only(path, False)
    except OSError:
        try:
            read_only(b"/", False)  # better no confinement than a workdir the code cannot write in
        except OSError:
            pass
        return False
    return libc.unshare(clone_newuser) == 0  # no capability left over these mounts: they stay as they are


def _install_guard(workdir: str) -> None:
    pid = os.getpid()
    settings = {"workdir": workdir, "inside": workdir.rstrip("/") + "/", "pid": str(pid), "pid_number": pid,
                "own_codes": tuple(function.__code__ for function in _HOOK)}  # fmt: skip
    names = _guard.__code__.co_varnames[2 : _guard.__code__.co_argcount]
    _guard.__defaults__ = tuple(settings.get(name, value) for name, value in zip(names, _guard.__defaults__))
    sys.addaudithook(_guard)


def _run() -> None:
    code = sys.stdin.read()
    sys.stdin.close()
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    workdir = os.getcwd()  # where tools.sandbox started this process; the code has not run yet
    if sys.argv[1:] == ["--confine"]:
        _confine(workdir)
    del sys.argv[1:]
    _disarm()
    _install_guard(workdir)
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    exec(compile(code, "<code>", "exec"), main.__dict__)  # noqa: S102 - running this code is the point


if __name__ == "__main__":
    _run()
