import asyncio
import os
import tempfile
import time
from pathlib import Path

import pytest
from python_tool import failure, run

from tools import PythonArgs, PythonRunner, PythonSettings, default_registry


async def test_returns_what_the_code_prints() -> None:
    assert await run("import math\nprint(math.factorial(10))\n") == "3628800"
    assert await default_registry().call("python", {"code": "print(sum(range(10)))"}) == "45"


async def test_an_exception_is_one_line_naming_it() -> None:
    assert await failure("x = 1\nprint(x / 0)") == "python: ZeroDivisionError: division by zero"
    assert "SyntaxError" in await failure("print(")
    assert await failure("import sys; sys.exit(3)") == "python: exited with status 3"


async def test_an_infinite_loop_times_out_quickly() -> None:
    start = time.perf_counter()
    assert await failure("while True:\n    pass", timeout_s=1) == "python: timed out after 1 s"
    assert time.perf_counter() - start < 3


async def test_a_memory_bomb_is_stopped_by_the_memory_limit() -> None:
    message = await failure("chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))", memory_mb=200)
    assert "MemoryError" in message and "memory limit of 200 MB" in message


@pytest.mark.parametrize("namespaces", [True, False])
async def test_network_is_blocked_even_to_loopback(namespaces: bool) -> None:
    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        code = f"import socket\ns = socket.socket()\ns.connect(('127.0.0.1', {port}))\nprint('connected')"
        message = await failure(code, namespaces=namespaces)
        assert "network access is blocked in the sandbox (socket.connect)" in message
        assert "blocked" in await failure("import urllib.request\nurllib.request.urlopen('http://example.com')")
    assert connections == 0


@pytest.mark.parametrize("namespaces", [True, False])
async def test_the_parents_environment_does_not_reach_the_code(
    namespaces: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATE_TEST_SECRET", "hunter2")
    code = """
import os
leaked = []
for pid in os.listdir('/proc'):
    try:
        leaked.append(open(f'/proc/{pid}/environ', 'rb').read())
    except OSError:
        pass
print(b'hunter2' in b''.join(leaked), sorted(os.environ))
"""
    output = await run(code, namespaces=namespaces)
    assert output.startswith("False [") and "ORCHESTRATE_TEST_SECRET" not in output


async def test_files_land_in_a_temporary_directory_that_is_removed() -> None:
    code = "import os\nopen('out.txt', 'w').write('hi')\nprint(os.getcwd())\nprint(os.listdir('.'))"
    workdir, listing = (await run(code)).splitlines()
    assert listing == "['out.txt']"
    assert Path(workdir).parent == Path(tempfile.gettempdir()) and workdir != os.getcwd()
    assert not Path(workdir).exists()


async def test_the_temporary_directory_is_removed_after_a_timeout_too() -> None:
    before = set(Path(tempfile.gettempdir()).glob("orchestrate-python-*"))
    await failure("open('x', 'w').write('x')\nwhile True:\n    pass", timeout_s=0.5)
    assert set(Path(tempfile.gettempdir()).glob("orchestrate-python-*")) <= before


async def test_huge_output_is_truncated_and_says_so() -> None:
    output = await run("print('x' * 10_000_000)", max_output_bytes=1000)
    assert output == "x" * 1000 + "\n... [output truncated at 1000 bytes]"


async def test_large_files_are_refused() -> None:
    assert "File too large" in await failure("open('big', 'wb').write(b'x' * 10**6)", max_file_bytes=1000)


async def test_a_fork_bomb_is_refused_at_the_first_fork() -> None:
    message = await failure("import os\nwhile True:\n    os.fork()", timeout_s=2)
    assert message == "python: PermissionError: starting processes is blocked in the sandbox (os.fork)"
    assert "starting processes is blocked" in await failure("import subprocess\nsubprocess.run(['echo', 'hi'])")
    assert "through ctypes" in await failure("import ctypes\nctypes.CDLL(None).fork()")


@pytest.mark.skipif(os.geteuid() == 0, reason="RLIMIT_NPROC does not hold root, so there is no limit to see")
async def test_the_process_limit_stops_a_thread_bomb() -> None:
    code = """
import threading, time
threads = []
try:
    for _ in range(200):
        threads.append(threading.Thread(target=time.sleep, args=(1,)))
        threads[-1].start()
finally:
    print(len(threads))
"""
    assert "can't start new thread" in await failure(code, max_processes=5, timeout_s=5)


async def test_many_calls_run_in_parallel() -> None:
    runner = PythonRunner(PythonSettings())
    start = time.perf_counter()
    calls = [runner.call(PythonArgs(code=f"import time\ntime.sleep(0.5)\nprint({n})")) for n in range(8)]
    assert await asyncio.gather(*calls) == [str(n) for n in range(8)]
    assert time.perf_counter() - start < 2.5


def test_the_code_argument_is_described_for_a_planner() -> None:
    schema = PythonArgs.model_json_schema()
    assert schema["required"] == ["code"] and "print" in schema["properties"]["code"]["description"]
