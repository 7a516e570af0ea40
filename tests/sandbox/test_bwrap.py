"""The bwrap backend's own contract: setup errors, exit codes, CPU accounting, site-packages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from redteam.lab import needs_bwrap
from rsilab.errors import SandboxError
from rsilab.sandbox.bwrap import BwrapSandbox, BwrapSettings
from rsilab.sandbox.process import Limits

pytestmark = needs_bwrap
LIMITS = Limits(cpu_seconds=10, wall_seconds=30)


def test_a_sandbox_that_cannot_be_set_up_raises_with_bwraps_reason(tmp_path: Path) -> None:
    box = BwrapSandbox(llm_socket=tmp_path / "missing.sock")
    with pytest.raises(SandboxError, match="could not set up the sandbox.*missing.sock"):
        box.run(["true"], tmp_path, limits=LIMITS)


def test_a_command_that_imitates_a_bwrap_error_is_reported_as_its_own_failure(tmp_path: Path) -> None:
    result = BwrapSandbox().run(["sh", "-c", "echo 'bwrap: setup failed' >&2; exit 3"], tmp_path, limits=LIMITS)
    assert result.returncode == 3 and "bwrap: setup failed" in result.stderr


def test_a_command_killed_by_a_signal_reports_that_signal(tmp_path: Path) -> None:
    result = BwrapSandbox().run(["sh", "-c", "kill -9 $$"], tmp_path, limits=LIMITS)
    assert result.returncode == -9


def test_cpu_time_of_grandchildren_is_counted(tmp_path: Path) -> None:
    box = BwrapSandbox()
    burn = "import time\nend = time.process_time() + 0.8\nwhile time.process_time() < end: pass"
    code = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}], start_new_session=True)"
    result = box.run([*box.python, "-c", code], tmp_path, limits=LIMITS)
    assert result.ok and result.cpu_seconds >= 0.7


def test_site_packages_are_hidden_unless_the_config_asks_for_them(tmp_path: Path) -> None:
    probe = "import pydantic; print('found')"
    hidden = BwrapSandbox()
    shown = BwrapSandbox(settings=BwrapSettings(site_packages=True))
    assert "ModuleNotFoundError" in hidden.run([*hidden.python, "-c", probe], tmp_path, limits=LIMITS).stderr
    assert shown.run([*shown.python, "-c", probe], tmp_path, limits=LIMITS).stdout.strip() == "found"


def test_the_tree_is_a_writable_copy_with_protected_files_and_inputs_read_only(tmp_path: Path) -> None:
    (tmp_path / "alignment.toml").write_text("rules\n")
    (tmp_path / "input.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    box = BwrapSandbox(protected=("alignment.toml",))
    code = (
        "import os\n"
        "open('code.py', 'a').write('y = 2\\n')\n"
        "for name in ('alignment.toml', 'input.json'):\n"
        "    try:\n        open(name, 'a')\n        print('WROTE', name)\n"
        "    except OSError as e:\n        print('denied', name)\n"
        "open('out.json', 'w').write('{\"ok\": 1}')\n"
    )
    result = box.run([*box.python, "-c", code], tmp_path, limits=LIMITS, readonly=("input.json",), outputs=("out.json",))
    assert "denied alignment.toml" in result.stdout and "denied input.json" in result.stdout, result.stderr
    assert (tmp_path / "out.json").read_text() == '{"ok": 1}'  # outputs come back
    assert (tmp_path / "code.py").read_text() == "x = 1\n"  # the copy changed, the harness's file did not


@pytest.mark.skipif(os.geteuid() != 0, reason="the output quota is a tmpfs the harness mounts as root")
def test_output_directories_count_against_the_disk_quota_and_only_regular_files_come_back(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "before.txt").write_text("the harness put this here\n")
    box = BwrapSandbox(settings=BwrapSettings(disk_mb=16))
    code = (
        "import os\n"
        "print(open('out/before.txt').read().strip())\n"
        "open('out/weights.bin', 'wb').write(b'w' * 1000)\n"
        "os.symlink('/etc/passwd', 'out/link')\n"
        "os.mkfifo('out/fifo')\n"
        "written = 0\n"
        "try:\n"
        "    for n in range(64):\n"
        "        with open(f'out/fill{n}', 'wb') as f:\n"
        "            f.write(b'x' * (1 << 20))\n"
        "        written += 1\n"
        "except OSError as e:\n"
        "    print('full after', written, 'MiB', e.errno)\n"
    )
    result = box.run([*box.python, "-c", code], tmp_path, limits=LIMITS, outputs=("out/",))
    assert "the harness put this here" in result.stdout and "full after" in result.stdout, result.stderr
    out = tmp_path / "out"
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert total <= 16 * (1 << 20)  # the host got no more than the quota
    assert (out / "weights.bin").read_bytes() == b"w" * 1000 and (out / "before.txt").exists()
    assert not (out / "link").exists() and not (out / "link").is_symlink() and not (out / "fifo").exists()
    assert "rsilab-run-" not in Path("/proc/self/mountinfo").read_text()  # the staging tmpfs is gone


def test_every_rlimit_reaches_the_command_set_by_the_launcher_not_a_preexec_fn(tmp_path: Path) -> None:
    limits = Limits(cpu_seconds=7, memory_mb=512, file_size_mb=5, open_files=99, processes=33, wall_seconds=30)
    result = BwrapSandbox().run(["cat", "/proc/self/limits"], tmp_path, limits=limits)
    seen = {line[:26].strip(): line[26:].split()[:2] for line in result.stdout.splitlines()[1:]}
    assert seen["Max cpu time"] == ["7", "8"]
    assert seen["Max address space"] == [str(512 << 20)] * 2
    assert seen["Max file size"] == [str(5 << 20)] * 2
    assert seen["Max open files"] == ["99", "99"]
    assert seen["Max core file size"] == ["0", "0"]
    assert seen["Max processes"] == ["33", "33"]
