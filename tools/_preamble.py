"""The first code the `python` tool's sandboxed child runs: read the code from stdin, guard, run it.

`tools.sandbox` passes this file's text to `python -I -c`; orchestrate never imports it. The guard is
an audit hook, which code cannot remove once installed: it refuses the network, starting or
signalling processes, raising resource limits, walking the garbage collector (the way to reach the
hook itself) and reading other processes' `/proc` entries (where the parent's environment lies).
"""

import os
import re
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
    "subprocess.Popen": _PROCESSES,
    "os.killpg": "signalling other processes",
    "resource.setrlimit": "changing resource limits",
    "resource.prlimit": "changing resource limits",
    "gc.get_objects": "inspecting the interpreter",
    "gc.get_referrers": "inspecting the interpreter",
    "gc.get_referents": "inspecting the interpreter",
}
_NATIVE = frozenset({
    "connect", "bind", "sendto", "sendmsg", "socket", "getaddrinfo", "fork", "vfork", "clone", "clone3",
    "execve", "execv", "execvp", "execl", "posix_spawn", "posix_spawnp", "system", "popen", "syscall", "kill",
    "setrlimit", "prlimit", "prlimit64", "unshare", "setns",
})  # fmt: skip
_PROC_ENTRY = re.compile(r"/proc/(\d+)(?:/|$)")


def _install_guard() -> None:
    # Everything the hook uses is bound here, so code that rebinds globals or builtins cannot change it.
    refused, native, proc_entry, pid = dict(_REFUSED), _NATIVE, _PROC_ENTRY, os.getpid()
    realpath, fsdecode, is_a, to_int, error = os.path.realpath, os.fsdecode, isinstance, int, PermissionError

    def refuse(what: str, event: str) -> None:
        raise error(f"{what} is blocked in the sandbox ({event})")

    def other_process(path: object) -> bool:  # best effort: namespaces, where available, hide them anyway
        match = proc_entry.match(realpath(fsdecode(path))) if is_a(path, (str, bytes)) else None  # type: ignore[arg-type]
        return match is not None and to_int(match[1]) != pid

    def guard(event: str, args: tuple) -> None:
        if event in refused:
            refuse(refused[event], event)
        elif event == "os.kill" and args[0] not in (0, pid):
            refuse("signalling other processes", event)
        elif event == "ctypes.dlsym" and is_a(args[1], str) and args[1] in native:
            refuse(f"calling {args[1]}() through ctypes", event)
        elif event in ("open", "os.chdir", "os.listdir", "os.scandir") and args and other_process(args[0]):
            refuse("reading other processes' /proc entries", event)

    sys.addaudithook(guard)


def _run() -> None:
    code = sys.stdin.read()
    sys.stdin.close()
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    _install_guard()
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    exec(compile(code, "<code>", "exec"), main.__dict__)  # noqa: S102 - running this code is the point


_run()
