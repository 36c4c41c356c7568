"""End-to-end in real headless Chromium (Debian's), with a fake camera fed the astronaut then no face.

Screenshots of every screen at a phone's 390x844 viewport go to test-output/app/.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from _appkit import PASSWORD, free_port
from _e2e_kit import CHROMIUM, Server, chromium_args, face_then_blank_video, run_cli, server_env

OUT = Path(__file__).resolve().parents[2] / "test-output" / "app"
PHONE = {"width": 390, "height": 844}
BABY = "Helena Teste"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, onnx_model: Path):  # type: ignore[no-untyped-def]
    data = tmp_path_factory.mktemp("e2e")
    env = server_env(data)
    made = run_cli(
        ["users", "create", "--username", "nina", "--role", "nurse"],
        {**env, "NEOPAIN_NEW_PASSWORD": PASSWORD},
    )
    assert made.returncode == 0, made.stderr
    port = free_port()
    server = Server(["--model", str(onnx_model), "--port", str(port)], env, f"http://127.0.0.1:{port}")
    server.wait_ready()
    yield server
    server.stop()
    assert BABY not in server.log.read_text()  # never a patient name in the server's output


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    video = face_then_blank_video(tmp_path_factory.mktemp("video") / "camera.y4m")
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(video))
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(server, browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True)
    yield context.new_page()
    context.close()


def log_in(page, url: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


def no_horizontal_scroll(page) -> bool:  # type: ignore[no-untyped-def]
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_a_nurse_assesses_a_baby_and_finds_it_in_the_history(server, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.url}/login")
    shot(page, "01-login")
    log_in(page, server.url, "nina")
    assert page.locator(".banner").is_visible()  # the test model says it was trained on synthetic faces
    shot(page, "02-home")
    page.click("text=Instructions")
    assert page.locator(".step img").count() >= 3
    shot(page, "03-instructions")
    page.goto(f"{server.url}/")
    page.click("text=Camera")
    page.fill("#baby-name", BABY)
    page.fill("#baby-identifier", "Bed 4")
    shot(page, "04-start")
    page.click("text=Start camera with a new baby")
    page.wait_for_url(re.compile(r".*/assessments/[^/]+/camera$"))
    assert BABY.split()[0] not in page.url

    page.wait_for_selector("#oval.oval-ok", timeout=40_000)
    assert page.text_content("#label") in ("Pain", "No pain")
    assert re.fullmatch(r"Confidence \d+%", page.text_content("#confidence"))
    assert re.fullmatch(r"· \d+ ms", page.text_content("#timing"))
    page.wait_for_selector("#saved:has-text('saved in this session')", timeout=20_000)
    shot(page, "05-camera-green")
    page.wait_for_selector("#oval.oval-no", timeout=40_000)
    assert page.text_content("#status") != "Face found"
    shot(page, "06-camera-red")
    assert no_horizontal_scroll(page)

    page.click("text=Finish")
    page.click("text=History")
    page.fill("input[name=q]", "helena")
    page.click("text=Search")
    page.click(f"text={BABY}")
    page.wait_for_selector("#chart-day svg")
    assert int(page.text_content("#total-records")) >= 1
    for chart in ("#chart-day svg", "#chart-hour svg"):
        box = page.locator(chart).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 100
    assert page.locator(".chart rect").count() >= 1
    assert page.locator(".thumbs img").first.evaluate("img => img.naturalWidth") > 0
    shot(page, "07-profile")
    assert no_horizontal_scroll(page)

    page.locator(".thumbs a").first.click()
    page.wait_for_selector(".record-image")
    shot(page, "08-record")
    page.check("input[value=pain]")
    page.click("text=NFCS facial actions")
    page.check("input[value=brow_bulge]")
    page.click("text=Save")
    page.wait_for_selector("text=Saved.")
    page.goto(f"{server.url}/model")
    shot(page, "09-model")
    page.goto(f"{server.url}/assessments/new")
    page.fill("#baby-name", BABY.lower())  # search as you type finds the existing baby
    page.wait_for_selector("#list-title:has-text('matching')")
    assert page.locator("#same-name").is_visible()  # warned before making a duplicate
    page.wait_for_selector(f"#baby-list button:has-text('{BABY}')")
    shot(page, "11-start-search")
    page.click(f"#baby-list button:has-text('{BABY}')")
    page.wait_for_url(re.compile(r".*/assessments/[^/]+/camera$"))
    assert page.text_content(".who").split(" · ") == [BABY, "Bed 4"]  # the name and the bed, never one alone
    page.goto(f"{server.url}/history")
    shot(page, "10-history")
    assert no_horizontal_scroll(page)


def test_the_image_route_needs_a_login(server) -> None:  # type: ignore[no-untyped-def]
    response = httpx.get(f"{server.url}/records/anything/image", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    """--https makes a certificate once, serves TLS, and marks the session cookie Secure."""
    env = server_env(tmp_path)
    assert (
        run_cli(
            ["users", "create", "--username", "tls1", "--role", "nurse"],
            {**env, "NEOPAIN_NEW_PASSWORD": PASSWORD},
        ).returncode
        == 0
    )
    port = free_port()
    server = Server(["--https", "--port", str(port)], env, f"https://127.0.0.1:{port}")
    try:
        server.wait_ready()
        cert = tmp_path / "app" / "tls" / "neopain-cert.pem"
        with httpx.Client(base_url=server.url, verify=False) as client:
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
            response = client.post(
                "/login", data={"username": "tls1", "password": PASSWORD, "csrf_token": token}
            )
        assert cert.is_file()
        cookie = response.headers["set-cookie"]
        assert response.status_code == 303 and "Secure" in cookie and "HttpOnly" in cookie
    finally:
        server.stop()
    assert "SHA-256" in server.log.read_text()  # the fingerprint to compare on the phone


def test_an_unattended_camera_pauses_and_the_login_expires(tmp_path: Path, browser, onnx_model: Path) -> None:  # type: ignore[no-untyped-def]
    """Frames keep a login alive, so the camera pauses after the idle time; later, a tap leads to the login."""
    env = {**server_env(tmp_path), "NEOPAIN_SESSION_IDLE_MINUTES": "0.05"}  # 3 seconds
    assert (
        run_cli(
            ["users", "create", "--username", "idle1", "--role", "nurse"],
            {**env, "NEOPAIN_NEW_PASSWORD": PASSWORD},
        ).returncode
        == 0
    )
    port = free_port()
    server = Server(["--model", str(onnx_model), "--port", str(port)], env, f"http://127.0.0.1:{port}")
    context = browser.new_context(viewport=PHONE)
    try:
        server.wait_ready()
        page = context.new_page()
        log_in(page, server.url, "idle1")
        page.goto(f"{server.url}/assessments/new")
        page.fill("#baby-name", "Idle Baby")
        page.fill("#baby-identifier", "Bed 9")
        page.click("text=Start camera with a new baby")
        page.wait_for_selector("#oval.oval-ok, #oval.oval-no", timeout=40_000)  # frames flow meanwhile
        page.wait_for_selector("#status:has-text('Paused')", timeout=20_000)
        page.wait_for_timeout(4_000)  # the server forgets the idle login
        page.mouse.click(20, 300)
        page.wait_for_url(f"{server.url}/login?expired=1", timeout=20_000)
        assert "logged out after a period of inactivity" in page.content()
    finally:
        context.close()
        server.stop()
