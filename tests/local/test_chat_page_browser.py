"""The emulator's chat page in a real browser: pick bus.jpg, see the annotated answer appear."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from local.config import ROOT
from local.harness import local_stack
from tests.support.images import real_weights, sample_image

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "artifacts" / "browser"
# Chromium's own background traffic has nowhere to go on this offline machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.mark.parametrize("width, height, name", [(1280, 800, "laptop"), (390, 844, "phone")])
def test_upload_shows_annotated_photo_and_caption(tmp_path, browser, width, height, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with local_stack(tmp_path, weights=real_weights()) as stack:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(stack.emulator + "/")
        page.set_input_files("input#photo-input", str(sample_image("bus.jpg")))
        page.wait_for_selector(".msg.bot .text", timeout=60_000)
        photo = page.wait_for_selector(".msg.bot img.photo", timeout=180_000)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=photo)
        caption = page.inner_text(".msg.bot .caption")
        page.screenshot(path=str(ARTIFACTS / f"chat-page-{name}.png"), full_page=True)
        assert "person" in caption
        assert "bus: 1" in caption
