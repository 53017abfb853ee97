"""The local web UI (``vqtalker ui``): a page to animate a portrait from speech or text in the browser."""

from vqtalker.ui.server import UIServer, make_server

__all__ = ["UIServer", "make_server"]
