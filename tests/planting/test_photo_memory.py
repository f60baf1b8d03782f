"""Photo decoding memory under parallel uploads (SPEC 8.3): a real server with two workers, its
workers' resident memory read from /proc while a dozen large photos are decoded at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from server.settings import Settings
from tests.planting.helpers import black_png
from tests.processes import serving

MIB = 1024 * 1024
UPLOADS = 12
SIDE = 6300  # 39.7 megapixels: inside the 40 MP limit, so the server must decode it


def kib(pid: int, field: str) -> int:
    """A `VmRSS`-style line of /proc/<pid>/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def test_parallel_large_photos_stay_within_each_workers_memory_budget(settings: Settings, tmp_path: Path) -> None:
    budget = settings.worker_memory_budget_mb * MIB
    photo = black_png(SIDE, SIDE)
    with serving(settings, tmp_path, workers=2) as (server,):
        workers = server.worker_pids()
        assert len(workers) == 2, workers
        http = httpx.Client(base_url=server.base, timeout=120)
        operator = {"Authorization": f"Bearer {settings.operator_token}"}
        body = {"name": "Big Pictures", "contact_email": "a@example.org"}
        created = http.post("/v1/admin/ngos", json=body, headers=operator)
        assert created.status_code == 201, created.text
        ngo = {"Authorization": f"Bearer {created.json()['api_key']}"}
        resting = {pid: kib(pid, "VmRSS") * 1024 for pid in workers}

        barrier = threading.Barrier(UPLOADS)

        def upload(_: int) -> httpx.Response:
            with httpx.Client(base_url=server.base, timeout=120) as client:
                barrier.wait()
                return client.post("/v1/ngo/photos", files={"file": ("big.png", photo, "image/png")}, headers=ngo)

        with ThreadPoolExecutor(UPLOADS) as pool:
            answers = list(pool.map(upload, range(UPLOADS)))
        assert {a.status_code for a in answers} <= {201, 409, 422}, [a.text for a in answers if a.status_code >= 500]
        assert any(a.status_code == 201 for a in answers), [a.text for a in answers]
        assert all(a.json()["width"] == SIDE for a in answers if a.status_code == 201)

        peaks = {pid: kib(pid, "VmHWM") * 1024 for pid in workers}
        after = {pid: kib(pid, "VmRSS") * 1024 for pid in workers}
        report = {pid: (resting[pid] // MIB, peaks[pid] // MIB, after[pid] // MIB) for pid in workers}
        print("worker RSS MiB (resting, peak, after):", report)
        assert all(peak < budget for peak in peaks.values()), report
        # freed pixels go back to the system; what stays is mostly the hashing library, imported
        # by the first photo
        assert all(after[pid] - resting[pid] < 64 * MIB for pid in workers), report
        assert server.process.poll() is None and server.worker_pids() == workers
        assert "Traceback" not in server.output()
