"""The ``vqtalker`` command line.

Each verb lives in its own module under :mod:`vqtalker.cli` and exposes ``register(subparsers)``, which
adds an ``argparse`` sub-parser whose ``func`` default takes the parsed ``Namespace`` and returns an exit
code. Verb modules import their heavy dependencies inside ``func`` so ``vqtalker --help`` stays fast.

Errors: a :class:`vqtalker.errors.VQTalkerError` (or a missing file / bad value) is printed as one
``error: ...`` line on stderr with exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vqtalker import __version__
from vqtalker.errors import VQTalkerError

# Verb modules, in the order of the paper's figure. A module that is not present is skipped.
VERB_MODULES = (
    "vqtalker.cli.demo",
    "vqtalker.cli.prepare",
    "vqtalker.cli.speech",
    "vqtalker.cli.tts",
    "vqtalker.cli.train",
    "vqtalker.cli.reconstruct",
    "vqtalker.cli.codec",
    "vqtalker.cli.animate",
    "vqtalker.cli.say",
    "vqtalker.cli.eval",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vqtalker",
        description="Multilingual talking avatars through facial motion tokenization (VQTalker).",
    )
    parser.add_argument("--version", action="version", version=f"vqtalker {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (VQTalkerError, FileNotFoundError, IsADirectoryError, PermissionError, ValueError) as exc:
        if args.debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
