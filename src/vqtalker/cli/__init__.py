"""The ``vqtalker`` command line.

Each verb lives in its own module under :mod:`vqtalker.cli` and exposes ``register(subparsers)``, which
adds an ``argparse`` sub-parser whose ``func`` default takes the parsed ``Namespace`` and returns an exit
code. Verb modules import their heavy dependencies inside ``func`` so ``vqtalker --help`` stays fast.

Errors: a :class:`vqtalker.errors.VQTalkerError` (or a missing file / bad value / an operating-system
error such as a read-only or full disk) is printed as one ``error: ...`` line on stderr with exit status 2;
``--debug`` shows the traceback instead. A float option that is NaN or infinite is refused before any verb
runs. SIGTERM and SIGHUP stop a verb like Ctrl-C does (outputs are written atomically, so nothing
half-written stays behind) with exit status 128 + the signal number.
"""

from __future__ import annotations

import argparse
import importlib
import math
import signal
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
    "vqtalker.cli.reenact",
    "vqtalker.cli.animate",
    "vqtalker.cli.say",
    "vqtalker.cli.eval",
    "vqtalker.cli.verify",
    "vqtalker.cli.ui",
)


class Terminated(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error of the program
    """Raised in the main thread by SIGTERM / SIGHUP so that cleanup (atomic outputs) runs."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, frame):  # pragma: no cover - exercised by the subprocess test
    raise Terminated(signum)


def _install_signal_handlers() -> None:
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            try:
                signal.signal(sig, _on_signal)
            except (ValueError, OSError):  # not the main thread / not allowed here
                pass


def _check_finite(args: argparse.Namespace) -> None:
    from vqtalker.errors import VQTalkerError

    for key, value in vars(args).items():
        vals = value if isinstance(value, (list, tuple)) else [value]
        for v in vals:
            if isinstance(v, float) and not math.isfinite(v):
                raise VQTalkerError(f"--{key.replace('_', '-')} must be a finite number, got {v}")


def _os_message(exc: OSError) -> str:
    what = exc.strerror or exc.__class__.__name__
    name = exc.filename if exc.filename is not None else ""
    return f"{what}: {name}" if name else what


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
    _install_signal_handlers()
    try:
        _check_finite(args)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"error: stopped by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum
    except OSError as exc:
        if args.debug:
            raise
        print(f"error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except (VQTalkerError, ValueError) as exc:
        if args.debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
