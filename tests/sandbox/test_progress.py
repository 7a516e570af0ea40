"""The progress watcher counts the self's progress lines without trusting the file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rsilab.sandbox.progress import READ_CAP, ProgressWatcher


def test_lines_appended_during_a_run_are_reported_as_they_come(tmp_path: Path):
    path, seen = tmp_path / "progress", []
    with ProgressWatcher(path, seen.append, interval=0.01), open(path, "a") as handle:
        for i in range(5):
            handle.write(f"t{i}\n")
            handle.flush()
            time.sleep(0.05)
    assert seen[-1] == 5
    assert seen == sorted(seen) and len(seen) >= 3  # it moved during the run, not only at the end


def test_a_fifo_or_a_link_planted_as_the_progress_file_neither_blocks_nor_counts(tmp_path: Path):
    fifo, link, seen = tmp_path / "fifo", tmp_path / "link", []
    os.mkfifo(fifo)
    (tmp_path / "real").write_text("a\nb\n")
    link.symlink_to(tmp_path / "real")
    for planted in (fifo, link):
        started = time.monotonic()
        with ProgressWatcher(planted, seen.append, interval=0.01):
            time.sleep(0.05)
        assert time.monotonic() - started < 2
    assert seen == []


def test_a_flood_is_read_a_bounded_piece_at_a_time(tmp_path: Path):
    path, seen = tmp_path / "progress", []
    path.write_bytes(b"\n" * (READ_CAP * 3))
    watcher = ProgressWatcher(path, seen.append)
    watcher.poll()
    assert seen == [READ_CAP]
