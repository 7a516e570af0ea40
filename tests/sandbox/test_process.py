"""The process sandbox, with real child processes."""

from __future__ import annotations

import errno
import json
import sys
import time
from pathlib import Path

import pytest

from rsilab.errors import SandboxError
from rsilab.sandbox.process import OUTPUT_CAP_BYTES, Limits, ProcessSandbox, RunResult

PY = sys.executable


def run_py(code: str, workdir: Path, **limits: float) -> RunResult:
    return ProcessSandbox().run([PY, "-c", code], workdir, limits=Limits(**limits))  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie (killed-but-unreaped counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def wait_dead(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


def test_successful_run_reports_output_exit_code_and_ok(tmp_path: Path) -> None:
    result = run_py("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)", tmp_path)
    assert (result.stdout, result.stderr, result.returncode) == ("out\n", "err\n", 3)
    assert not result.ok and not result.timed_out and result.violations == ()
    assert run_py("pass", tmp_path).ok


def test_environment_is_cleared_so_harness_secrets_are_invisible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-harness-secret")
    result = ProcessSandbox().run(
        [PY, "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
        tmp_path,
        limits=Limits(),
        env={"RSILAB_LLM_SOCKET": "/run/llm.sock"},
    )
    env = json.loads(result.stdout)
    assert "sk-harness-secret" not in result.stdout
    assert env == {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path.resolve()),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "RSILAB_LLM_SOCKET": "/run/llm.sock",
    }


def test_child_runs_in_workdir(tmp_path: Path) -> None:
    assert run_py("import os; print(os.getcwd())", tmp_path).stdout.strip() == str(tmp_path.resolve())


def test_cpu_loop_is_killed_by_the_cpu_limit(tmp_path: Path) -> None:
    result = run_py("while True: pass", tmp_path, cpu_seconds=1, wall_seconds=20)
    assert "cpu-limit" in result.violations
    assert not result.timed_out and result.returncode is not None and result.returncode < 0
    assert 0.8 <= result.cpu_seconds < 5
    assert result.wall_seconds < 10


def test_memory_bomb_fails_under_the_address_space_limit(tmp_path: Path) -> None:
    # bytearray() is calloc'd lazily, so without RLIMIT_AS 2 GiB would succeed at once.
    result = run_py("b = bytearray(2 * 1024**3); print('allocated')", tmp_path, memory_mb=256)
    assert "allocated" not in result.stdout
    assert "MemoryError" in result.stderr
    assert result.returncode == 1


def test_wall_timeout_kills_child_and_grandchild_and_returns_promptly(tmp_path: Path) -> None:
    code = (
        "import subprocess, time\n"
        "g = subprocess.Popen(['sleep', '60'])\n"
        "open('grandchild.pid', 'w').write(str(g.pid))\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    result = run_py(code, tmp_path, wall_seconds=1.0)
    elapsed = time.monotonic() - started
    assert result.timed_out and result.violations == ("timeout",) and result.returncode is None
    assert 0.9 <= result.wall_seconds and elapsed < 4
    assert wait_dead(int((tmp_path / "grandchild.pid").read_text()))



def test_timeout_kills_grandchild_that_left_the_process_group_but_not_the_session(tmp_path: Path) -> None:
    # killpg misses it; only the sweep of the session finds it.
    code = (
        "import subprocess, time\n"
        "g = subprocess.Popen(['sleep', '60'], process_group=0)\n"
        "open('grandchild.pid', 'w').write(str(g.pid))\n"
        "time.sleep(60)\n"
    )
    assert run_py(code, tmp_path, wall_seconds=1.0).timed_out
    assert wait_dead(int((tmp_path / "grandchild.pid").read_text()))


def test_timeout_kills_grandchild_in_its_own_session_while_its_parent_lives(tmp_path: Path) -> None:
    # setsid() escapes the session sweep; the walk down from the live child still finds it.
    # (Once its parent is gone it is out of reach: the documented gap pid namespaces close.)
    code = (
        "import subprocess, time\n"
        "g = subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
        "open('grandchild.pid', 'w').write(str(g.pid))\n"
        "time.sleep(60)\n"
    )
    assert run_py(code, tmp_path, wall_seconds=1.0).timed_out
    assert wait_dead(int((tmp_path / "grandchild.pid").read_text()))

def test_background_grandchild_holding_stdout_neither_hangs_the_run_nor_survives_it(tmp_path: Path) -> None:
    # The grandchild inherits stdout; with a pipe, reading to EOF would wait 60 s for it.
    code = (
        "import subprocess\n"
        "g = subprocess.Popen(['sleep', '60'])\n"
        "open('grandchild.pid', 'w').write(str(g.pid))\n"
        "print('parent done')\n"
    )
    started = time.monotonic()
    result = run_py(code, tmp_path, wall_seconds=30)
    assert time.monotonic() - started < 5
    assert result.ok and result.stdout == "parent done\n"
    assert wait_dead(int((tmp_path / "grandchild.pid").read_text()))


def test_stdout_and_stderr_are_regular_files_outside_workdir(tmp_path: Path) -> None:
    code = (
        "import json, os, stat\n"
        "print(json.dumps([[stat.S_ISREG(os.fstat(fd).st_mode), os.readlink(f'/proc/self/fd/{fd}')] for fd in (1, 2)]))"
    )
    (out_regular, out_path), (err_regular, err_path) = json.loads(run_py(code, tmp_path).stdout)
    assert out_regular and err_regular
    for path in (out_path, err_path):
        assert not Path(path).is_relative_to(tmp_path.resolve())
        assert not Path(path).exists()  # the private output dir is removed after the run


def test_output_is_capped_to_its_last_64_kib(tmp_path: Path) -> None:
    result = run_py("import sys; sys.stdout.write('a' * 200_000 + 'THE END')", tmp_path)
    assert result.stdout.endswith("a" * 1000 + "THE END")
    assert result.stdout.count("a") == OUTPUT_CAP_BYTES - len("THE END")
    assert "cut" in result.stdout.splitlines()[0]


def test_python_cannot_write_a_file_larger_than_the_limit(tmp_path: Path) -> None:
    code = (
        "with open('big', 'wb', buffering=0) as f:\n"
        "    try:\n"
        "        for _ in range(4): f.write(b'x' * 1024 * 1024)\n"
        "    except OSError as e: print(e.errno)\n"
    )
    result = run_py(code, tmp_path, file_size_mb=1)
    assert result.stdout.strip() == str(errno.EFBIG)
    assert (tmp_path / "big").stat().st_size == 1024 * 1024


def test_program_writing_past_the_file_size_limit_is_killed_and_flagged(tmp_path: Path) -> None:
    result = ProcessSandbox().run(
        ["dd", "if=/dev/zero", "of=big", "bs=1M", "count=4"], tmp_path, limits=Limits(file_size_mb=1)
    )
    assert "file-size-limit" in result.violations and not result.ok
    assert (tmp_path / "big").stat().st_size == 1024 * 1024


def test_open_files_limit_applies(tmp_path: Path) -> None:
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    assert run_py(code, tmp_path, open_files=37).stdout.strip() == "37"


def test_cpu_seconds_are_measured_by_the_harness(tmp_path: Path) -> None:
    busy = run_py("import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass", tmp_path)
    idle = run_py("import time; time.sleep(0.3)", tmp_path)
    assert busy.cpu_seconds >= 0.3 > idle.cpu_seconds
    assert idle.wall_seconds >= 0.3


def test_missing_command_raises_sandbox_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="no-such-command-xyz"):
        ProcessSandbox().run(["no-such-command-xyz"], tmp_path, limits=Limits())


def test_missing_workdir_raises_sandbox_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="not a directory"):
        ProcessSandbox().run([PY, "-c", "pass"], tmp_path / "absent", limits=Limits())

