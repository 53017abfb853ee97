"""The local web UI: page, form submission (text and audio), errors, video download, a headless browser."""

from __future__ import annotations

import shutil
import subprocess
import threading
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_pipeline_regression import _pipeline

    from vqtalker.ui import UIServer, make_server

    ui = UIServer(lambda: _pipeline(tmp_path_factory.mktemp("ui")), max_upload_mb=5)
    srv = make_server(ui, "127.0.0.1", 0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", ui
    srv.shutdown()
    srv.server_close()
    ui.close()


def _post(url, fields: dict, files: dict):
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for k, (name, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    ctype = f"multipart/form-data; boundary={boundary}"
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _portrait() -> bytes:
    from vqtalker.cli.demo import DEMO_PORTRAIT

    return DEMO_PORTRAIT.read_bytes()


def test_page_and_health(server):
    url, _ = server
    page = urllib.request.urlopen(url + "/", timeout=10).read().decode()
    assert 'id="animate"' in page and 'name="image"' in page and 'name="text"' in page
    assert urllib.request.urlopen(url + "/health", timeout=10).read() == b"ok"


def test_text_job_returns_a_tagged_video(server, tmp_path):
    from vqtalker.io.video import is_tagged_synthetic, read_video

    url, _ = server
    fields = {"text": "Habari ya asubuhi.", "lang": "sw", "seed": "2", "still": "1"}
    code, page = _post(url + "/animate", fields, {"image": ("face.jpg", _portrait())})
    assert code == 200 and '<video id="result"' in page, page[-400:]
    vid = page.split('src="/video/')[1].split('"')[0]
    data = urllib.request.urlopen(f"{url}/video/{vid}", timeout=10).read()
    out = tmp_path / "v.mp4"
    out.write_bytes(data)
    assert is_tagged_synthetic(out) and read_video(out).num_frames > 10


def test_audio_job_and_errors(server):
    import io

    import soundfile as sf

    url, _ = server
    t = np.arange(16000) / 16000
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000, format="WAV")
    code, page = _post(url + "/animate", {"seed": "0"},
                       {"image": ("face.jpg", _portrait()), "audio": ("speech.wav", buf.getvalue())})
    assert code == 200 and '<video id="result"' in page
    code, page = _post(url + "/animate", {}, {"image": ("face.jpg", _portrait())})
    assert code == 400 and "give a speech file or some text" in page
    code, page = _post(url + "/animate", {"text": "hi"}, {"image": ("x.png", b"not a picture")})
    assert code == 400 and 'id="error"' in page and "Traceback" not in page
    code, page = _post(url + "/animate", {"text": "hi", "seed": "x"}, {"image": ("face.jpg", _portrait())})
    assert code == 400 and "whole numbers" in page
    code, _ = _post(url + "/animate", {"text": "x" * 6_000_000}, {"image": ("face.jpg", b"")})
    assert code == 413


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed")
def test_headless_chromium_renders_the_form(server):
    url, _ = server
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url + "/"],
                         capture_output=True, text=True, timeout=120).stdout
    assert '<form id="animate"' in dom and '<button id="go" type="submit">Animate</button>' in dom


@pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("chromedriver") is None,
                    reason="Debian chromium + chromium-driver are not installed")
def test_browser_fills_the_form_and_plays_the_video(server):
    """A real browser (headless chromium through selenium): upload the portrait, type text, click Animate,
    the result page shows a <video> whose file is served."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from vqtalker.cli.demo import DEMO_PORTRAIT

    url, _ = server
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        drv.get(url + "/")
        drv.find_element(By.NAME, "image").send_keys(str(DEMO_PORTRAIT))
        drv.find_element(By.NAME, "text").send_keys("Good morning.")
        drv.find_element(By.ID, "go").click()
        video = WebDriverWait(drv, 120).until(ec.presence_of_element_located((By.ID, "result")))
        src = video.get_attribute("src")
        assert src.endswith(".mp4")
        assert urllib.request.urlopen(src, timeout=10).read()[4:8] == b"ftyp"
    finally:
        drv.quit()
