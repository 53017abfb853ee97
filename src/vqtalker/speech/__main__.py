"""``python -m vqtalker.speech AUDIO [-o tokens.npy] [--tokenizer NAME]`` (same as ``vqtalker speech``)."""

import argparse
import sys

from vqtalker.cli.speech import add_arguments, run
from vqtalker.errors import VQTalkerError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vqtalker.speech", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (VQTalkerError, ValueError, OSError) as exc:
        print(
            f"error: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
