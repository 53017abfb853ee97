"""A dependency-free local web UI: one page, one form, the video back in the page.

``GET /`` serves the form (portrait upload; speech upload *or* text + language; seed, still head, size);
``POST /animate`` runs :meth:`vqtalker.pipeline.TalkingHeadPipeline.animate_to_file` (one job at a time)
and answers with a page that plays the result (``GET /video/<id>.mp4``, tagged as synthetic media) or shows
the one-line error; ``GET /health`` answers ``ok``. Built on the standard library's ``http.server`` (no
gradio: its pins conflict with this project's Pillow / numpy), bound to 127.0.0.1 by default; nothing is
fetched from the internet. Uploads are limited to ``max_upload_mb`` and kept in a private temporary folder
that is removed on shutdown.
"""

from __future__ import annotations

import email.parser
import email.policy
import html
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from vqtalker.errors import VQTalkerError

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vqtalker</title>
<style>body{{font-family:sans-serif;max-width:760px;margin:2em auto;padding:0 1em}}
fieldset{{margin:1em 0}}label{{display:block;margin:.4em 0}}.err{{color:#b00}}video{{max-width:100%}}
small{{color:#666}}</style></head><body>
<h1>vqtalker</h1>
<p>One portrait + speech (or text) &rarr; a talking-head video. Runs on this machine, offline.
Every video is tagged as synthetic media.</p>
{result}
<form id="animate" method="post" action="/animate" enctype="multipart/form-data">
<fieldset><legend>Portrait</legend>
<label>Picture with a face <input type="file" name="image" accept="image/*" required></label></fieldset>
<fieldset><legend>Speech</legend>
<label>Audio file <input type="file" name="audio" accept="audio/*,video/*"></label>
<label>&hellip; or text <textarea name="text" rows="3" cols="60"></textarea></label>
<label>Language of the text <input type="text" name="lang" value="en" size="6">
<small>(espeak-ng code: en, de, fr, zh, sw, &hellip;)</small></label></fieldset>
<fieldset><legend>Options</legend>
<label>Seed <input type="number" name="seed" value="0"></label>
<label><input type="checkbox" name="still" value="1"> still head (no generated head motion)</label>
<label>Face crop size <select name="size"><option value="">model default</option>
<option>256</option><option>512</option></select></label></fieldset>
<button id="go" type="submit">Animate</button>
</form></body></html>
"""


def _page(result: str = "") -> bytes:
    return PAGE.format(result=result).encode("utf-8")


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """``multipart/form-data`` body → ``{field: (filename or None, bytes)}`` (standard-library parser)."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not msg.is_multipart():
        raise VQTalkerError("the form must be sent as multipart/form-data")
    out = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            out[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return out


def _suffix(name: str | None, default: str) -> str:
    """A safe file suffix from an uploaded file name (letters and digits only)."""
    suf = Path(name or "").suffix.lower()[:6]
    return suf if suf[1:].isalnum() else default


class UIServer:
    """The UI's state: the pipeline (built on first use by ``pipeline_factory``), a job lock, the folder
    with uploads and results."""

    def __init__(self, pipeline_factory: Callable[[], object], max_upload_mb: float = 50.0):
        self._factory = pipeline_factory
        self._pipe = None
        self._lock = threading.Lock()
        self.max_bytes = int(max_upload_mb * 1e6)
        self.workdir = Path(tempfile.mkdtemp(prefix="vqtalker-ui-"))
        self.videos: dict[str, Path] = {}

    def pipeline(self):
        if self._pipe is None:
            self._pipe = self._factory()
        return self._pipe

    def animate(self, fields: dict[str, tuple[str | None, bytes]]) -> str:
        """Run one job from the form fields; returns the video id (``VQTalkerError`` for bad input)."""
        from vqtalker.pipeline import GenerationConfig

        fname, image = fields.get("image", (None, b""))
        if not image:
            raise VQTalkerError("choose a portrait picture")
        job = uuid.uuid4().hex[:12]
        d = self.workdir / job
        d.mkdir()
        img = d / ("image" + _suffix(fname, ".png"))
        img.write_bytes(image)
        text = fields.get("text", (None, b""))[1].decode("utf-8", "replace").strip()
        aname, audio = fields.get("audio", (None, b""))
        seed_s = fields.get("seed", (None, b"0"))[1].decode("utf-8", "replace") or "0"
        size_s = fields.get("size", (None, b""))[1].decode("utf-8", "replace")
        try:
            seed = int(seed_s)
            size = int(size_s) if size_s else None
        except ValueError:
            raise VQTalkerError("seed and size must be whole numbers") from None
        still = fields.get("still", (None, b""))[1] == b"1"
        cfg = GenerationConfig(seed=seed, size=size, head_motion=0.0 if still else 1.0).validate()
        phonemes = None
        if audio:
            speech = d / ("speech" + _suffix(aname, ".wav"))
            speech.write_bytes(audio)
            wave, sr = str(speech), 16000
        elif text:
            from vqtalker.tts import synthesize

            lang = fields.get("lang", (None, b"en"))[1].decode("utf-8", "replace").strip() or "en"
            wave, sr, phonemes = synthesize(text, lang)
        else:
            raise VQTalkerError("give a speech file or some text")
        out = d / "talking.mp4"
        with self._lock:  # one job at a time: a CPU runs one pipeline well, not two
            self.pipeline().animate_to_file(out, str(img), wave, sample_rate=sr, config=cfg,
                                            phonemes=phonemes)
        self.videos[job] = out
        return job

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _handler(ui: UIServer):
    class Handler(BaseHTTPRequestHandler):
        server_version = "vqtalker-ui"

        def log_message(self, fmt, *args):  # quiet by default
            if os.environ.get("VQTALKER_UI_LOG"):
                super().log_message(fmt, *args)

        def _send(self, code: int, body: bytes, ctype: str = "text/html; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 - http.server's name
            if self.path in ("/", "/index.html"):
                return self._send(200, _page())
            if self.path == "/health":
                return self._send(200, b"ok", "text/plain")
            if self.path.startswith("/video/") and self.path.endswith(".mp4"):
                job = self.path[len("/video/") : -4]
                p = ui.videos.get(job)
                if p is not None and p.is_file():
                    return self._send(200, p.read_bytes(), "video/mp4")
            return self._send(404, _page('<p class="err">not found</p>'))

        def do_POST(self):  # noqa: N802
            if self.path != "/animate":
                return self._send(404, _page('<p class="err">not found</p>'))
            try:
                n = int(self.headers.get("Content-Length") or "")
            except ValueError:
                n = -1
            if n < 0:
                return self._send(411, _page('<p class="err">error: the request needs a Content-Length</p>'))
            if n > ui.max_bytes:
                left = n
                while left > 0:  # drain the upload so that the client can read the answer
                    got = self.rfile.read(min(left, 1 << 20))
                    if not got:
                        break
                    left -= len(got)
                self.close_connection = True
                return self._send(413, _page(f'<p class="err">error: upload larger than '
                                             f'{ui.max_bytes // 1000000} MB</p>'))
            body = self.rfile.read(n)
            try:
                job = ui.animate(parse_multipart(self.headers.get("Content-Type", ""), body))
            except VQTalkerError as exc:
                msg = html.escape(str(exc).strip().splitlines()[0] if str(exc).strip() else "failed")
                return self._send(400, _page(f'<p class="err" id="error">error: {msg}</p>'))
            except Exception as exc:  # noqa: BLE001 - the page must answer, whatever failed
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                msg = html.escape(f"{type(exc).__name__}: {first}")
                return self._send(500, _page(f'<p class="err" id="error">error: {msg}</p>'))
            res = (f'<h2>Result</h2><video id="result" controls src="/video/{job}.mp4"></video>'
                   f'<p><a href="/video/{job}.mp4" download="talking.mp4">download</a> '
                   "(synthetic media)</p>")
            return self._send(200, _page(res))

    return Handler


def make_server(ui: UIServer, host: str = "127.0.0.1", port: int = 7860) -> ThreadingHTTPServer:
    """An HTTP server for ``ui`` (``port`` 0 = any free port; ``server.server_address`` tells which)."""
    if not 0 <= int(port) <= 65535:
        raise VQTalkerError(f"--port must be in 0..65535, got {port}")
    try:
        return ThreadingHTTPServer((host, int(port)), _handler(ui))
    except OSError as exc:
        raise VQTalkerError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror})") from None


__all__ = ["UIServer", "make_server", "parse_multipart"]
