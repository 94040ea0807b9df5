"""`python`: run a short Python program in a sandboxed child process and return what it prints."""

from __future__ import annotations

import signal

from pydantic import BaseModel, ConfigDict, Field

from tools.base import ToolError
from tools.sandbox import Limits, Outcome, run_sandboxed

_MAX_MESSAGE_CHARS = 1000  # of an error's last line; the rest is cut


class PythonSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(10, gt=0, le=3600, description="Wall-clock limit per call, in seconds.")
    memory_mb: int = Field(512, ge=64, le=1_048_576, description="Address-space limit of the child process, in MiB.")
    max_output_bytes: int = Field(64_000, ge=1, le=1 << 30, description="Output kept per stream; the rest is dropped.")
    max_file_bytes: int = Field(16_000_000, ge=0, le=1 << 40, description="Largest file the code may write.")
    max_processes: int = Field(64, ge=1, le=4096, description="Processes and threads the child may add (RLIMIT_NPROC).")
    namespaces: bool = Field(True, description="Also isolate network and processes with `unshare` where it works.")

    def limits(self) -> Limits:
        return Limits(**self.model_dump())


class PythonArgs(BaseModel):
    code: str = Field(
        description="A complete Python 3 program. It runs in a sandbox without network access; "
        "the result is what it prints, so print() the answer."
    )


class PythonRunner:
    name = "python"
    description = "Run a Python 3 program in a sandbox (no network, limited time and memory) and return its output."
    args_model: type[BaseModel] = PythonArgs

    def __init__(self, settings: PythonSettings | None = None) -> None:
        self.settings = settings or PythonSettings()

    async def call(self, args: BaseModel) -> str:
        code = PythonArgs.model_validate(args).code
        return self._result(await run_sandboxed(code, self.settings.limits()))

    def _result(self, outcome: Outcome) -> str:
        if outcome.returncode is None:
            raise ToolError(f"python: timed out after {self.settings.timeout_s:g} s")
        if outcome.returncode < 0:
            raise ToolError(f"python: {self._signal_message(-outcome.returncode)}")
        if outcome.returncode > 0:
            raise ToolError(f"python: {self._error_message(outcome)}")
        return outcome.stdout.strip()

    def _error_message(self, outcome: Outcome) -> str:
        lines = [line.strip() for line in outcome.stderr.splitlines() if line.strip()]
        if not lines:
            return f"exited with status {outcome.returncode}"
        last = lines[-1] if len(lines[-1]) <= _MAX_MESSAGE_CHARS else f"{lines[-1][:_MAX_MESSAGE_CHARS]} ... [cut]"
        if "MemoryError" in last.split(":")[0]:
            return f"{last} (over the memory limit of {self.settings.memory_mb} MB)"
        if "can't start new thread" in last:
            limits = f"{self.settings.max_processes} threads and processes, {self.settings.memory_mb} MB of memory"
            return f"{last} (the sandbox allows at most {limits})"
        return last

    def _signal_message(self, number: int) -> str:
        limits = self.settings.limits()
        if number == signal.SIGXCPU:
            return f"used more than {limits.cpu_s} s of CPU time"
        name = _signal_name(number)
        if number == signal.SIGKILL:
            return f"killed by {name} (perhaps over the limit of {limits.memory_mb} MB of memory or {limits.cpu_s} s of CPU)"
        if number in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
            return f"killed by {name} (perhaps over the memory limit of {limits.memory_mb} MB)"
        return f"killed by {name}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
