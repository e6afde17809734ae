"""End to end in a real browser: Debian's Chromium driven by Playwright against the production
server (`station serve`, a subprocess) on loopback, with data recorded by `station assess` on the
simulated station. A clinician signs in, finds the participant, sees their progress drawn, and
downloads a PDF and a FHIR bundle that open and validate; an anonymous browser gets nothing.
Screenshots go to ``test-artifacts/screenshots/web/`` and are checked not to be blank."""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from station.store.export import CSV_COLUMNS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "screenshots" / "web"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
STATION = [str(Path(sys.executable).with_name("station"))]
PASSWORD = "clinician-password-1"
CODE = "E2E001"
START_TIMEOUT_S = 60.0


def _station(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [*STATION, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"station {' '.join(args)}: {done.stderr or done.stdout}"
    return done.stdout


def _read_lines(proc: subprocess.Popen[str]) -> tuple[queue.Queue[str | None], threading.Thread]:
    """The server's output lines, read to the end (so the pipe never fills) by the thread
    returned; None after the last."""
    lines: queue.Queue[str | None] = queue.Queue()
    assert proc.stdout is not None
    stream = proc.stdout

    def read() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader


def _wait_serving(lines: queue.Queue[str | None]) -> str:
    """The address ``station serve --port 0`` says it serves at, once it says it is serving."""
    said: list[str] = []
    base = None
    while True:
        try:
            line = lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            pytest.fail(f"station serve said nothing for {START_TIMEOUT_S} s; said: {said}")
        if line is None:
            pytest.fail(f"station serve ended; said: {said}")
        said.append(line)
        if found := re.search(r"clinic server: (http://127\.0\.0\.1:\d+)/", line):
            base = found[1]
        if line == "Ctrl-C stops":
            assert base is not None, said
            return base


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("e2e-data")
    env = {
        **os.environ,
        "STATION_DATA_DIR": str(data),
        "STATION_HARDWARE": "sim",
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("STATION_CONFIG", None)
    for seed in ("3", "4"):  # two sessions: progress over time
        _station(
            env,
            "assess",
            "--participant",
            CODE,
            "--battery",
            "nine_hole_peg",
            "--sim-profile",
            "healthy",
            "--seed",
            seed,
            "--fast",
            "--quiet",
        )
    _station(env, "serve", "--init")
    _station(env, "user", "add", "carol", "--role", "clinician", stdin=PASSWORD + "\n")
    proc = subprocess.Popen(
        [*STATION, "serve", "--host", "127.0.0.1", "--port", "0", "--no-mdns"],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines, reader = _read_lines(proc)
    try:
        yield _wait_serving(lines)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(START_TIMEOUT_S)
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run scripts/setup --dev")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _shot(page: Any, name: str) -> None:
    """Save a full-page screenshot and check it is not blank."""
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    png = page.screenshot(full_page=True)
    (SHOTS / f"{name}.png").write_bytes(png)
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    assert grey.std() > 10, f"{name}: the page is blank (std {grey.std():.1f})"


def _sign_in(page: Any, base: str) -> None:
    page.goto(base + "/auth/sign-in")
    page.fill("input[name=name]", "carol")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/auth/sign-in" not in page.url, "signing in failed"


def test_clinician_finds_participant_sees_progress_and_downloads(
    server: str, browser: Any, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    try:
        _sign_in(page, server)
        _shot(page, "home")

        page.goto(server + "/participants")
        page.fill("input[name=q]", CODE[:3])
        with page.expect_navigation():  # the search submits the form: wait for its page
            page.keyboard.press("Enter")
        page.wait_for_load_state()
        _shot(page, "participants")
        page.click(f"a[href='/participants/{CODE}']")
        page.wait_for_load_state()
        assert CODE in page.inner_text("body")

        # the progress chart is drawn: one point per session and hand
        chart = page.locator("svg.chart").first
        chart.wait_for(state="visible")
        box = chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        points = page.locator("svg.chart .point")
        assert points.count() >= 2, "the progress chart has no points"
        _shot(page, "participant")

        with page.expect_download() as csv_info:
            page.click(f"a[href='/participants/{CODE}/export.csv']")
        csv_path = tmp_path / "results.csv"
        csv_info.value.save_as(csv_path)
        with csv_path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert rows and list(rows[0]) == list(CSV_COLUMNS)  # tidy: the documented columns
        assert {r["participant"] for r in rows} == {CODE}
        assert any(r["metric"] and r["value"] for r in rows)

        with page.expect_download() as pdf_info:
            page.click(f"a[href='/participants/{CODE}/export.pdf']")
        pdf = tmp_path / "report.pdf"
        pdf_info.value.save_as(pdf)
        blob = pdf.read_bytes()
        assert blob.startswith(b"%PDF-") and blob.rstrip().endswith(b"%%EOF")

        with page.expect_download() as fhir_info:
            page.click(f"a[href='/participants/{CODE}/export.fhir.json']")
        bundle_path = tmp_path / "bundle.json"
        fhir_info.value.save_as(bundle_path)
        doc = json.loads(bundle_path.read_text())
        assert doc["resourceType"] == "Bundle"
        from fhir.resources.R4B.bundle import Bundle

        from station.reports.fhir import check_bundle

        bundle = Bundle.model_validate(doc)  # validates against the FHIR models
        check_bundle(bundle)  # and what the models do not check (references, statuses)
        kinds = [entry.resource.get_resource_type() for entry in bundle.entry]
        assert "Patient" in kinds and kinds.count("Observation") >= 2

        # a session page draws the raw data (the per-peg timeline)
        page.goto(server + f"/participants/{CODE}")
        page.locator("a[href^='/sessions/']").first.click()
        page.wait_for_load_state()
        assert page.locator("svg.chart").count() >= 1
        _shot(page, "session")
    finally:
        context.close()


def test_anonymous_browser_gets_nothing(server: str, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        for path in (
            "/participants",
            f"/participants/{CODE}",
            f"/participants/{CODE}/export.pdf",
            f"/participants/{CODE}/export.fhir.json",
        ):
            response = page.goto(server + path)
            assert response is not None
            # the sign-in page (which may carry the requested address back), never the data
            assert "/auth/sign-in" in page.url or response.status in (401, 403), path
            assert page.locator("svg.chart").count() == 0, path
            body = page.content()
            assert "Nine-Hole" not in body and "%PDF" not in body, path
            assert "resourceType" not in body, path
        api = context.request.get(server + "/api/v1/participants")
        assert api.status == 401
        assert CODE not in api.text()
        download = context.request.get(server + f"/participants/{CODE}/export.fhir.json")
        assert "resourceType" not in download.text()
    finally:
        context.close()
