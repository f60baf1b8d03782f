"""Profile the server during one scenario with py-spy (`--py-spy DIR`): a raw collapsed-stack file
and a plain-text summary of the frames that took the most samples (own and inclusive)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PROCESS_FRAME = re.compile(r"^process \d+:")


def start(pid: int, seconds: float, raw: Path) -> subprocess.Popen[bytes] | None:
    """py-spy on the server and its workers for `seconds`; None when py-spy is missing."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return None
    command = [spy, "record", "--subprocesses", "--nonblocking", "-r", "100", "-f", "raw"]
    return subprocess.Popen(
        [*command, "-d", str(max(1, round(seconds))), "-p", str(pid), "-o", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarise(raw: Path, top: int = 25) -> str:
    """Top frames by own samples and by inclusive samples (process frames left out)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = [frame for frame in stack.split(";") if not PROCESS_FRAME.match(frame)]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return f"{raw.name}: no samples (was the server busy?)\n"
    lines = [f"{raw.name}: {total} samples (100 a second per process, idle threads left out)", "", "own:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top * 2)]
    return "\n".join(lines) + "\n"
