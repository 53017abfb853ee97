"""``vqtalker ui``: the local web UI (:mod:`vqtalker.ui`) — open the printed address in a browser.

Example::

    vqtalker ui                 # http://127.0.0.1:7860
    vqtalker ui --port 8080 --host 0.0.0.0
"""

from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    from vqtalker.cli.runtime import add_runtime_arguments

    p = sub.add_parser("ui", help="local web UI: portrait + speech or text -> video in the browser",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 = any free port)")
    p.add_argument("--weights", default=None, metavar="DIR", help="directory with stage1/stage2 .safetensors")
    p.add_argument("--max-upload-mb", type=float, default=50.0)
    add_runtime_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from vqtalker.cli.runtime import apply_runtime
    from vqtalker.pipeline import TalkingHeadPipeline
    from vqtalker.ui import UIServer, make_server

    device = apply_runtime(args)
    if not 0 <= args.port <= 65535:
        from vqtalker.errors import VQTalkerError

        raise VQTalkerError(f"--port must be in 0..65535, got {args.port}")
    ui = UIServer(lambda: TalkingHeadPipeline.from_pretrained(args.weights, device=device),
                  max_upload_mb=args.max_upload_mb)
    server = make_server(ui, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"vqtalker ui: open http://{host}:{port}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        ui.close()
    return 0
