"""``vqtalker train {stage1,speech,stage2,mouth}``: one verb, one sub-verb per trainable component.

Each trainer module exposes ``add_arguments(parser)`` and ``run(args) -> int``; a trainer whose module
is not present yet is simply not listed.
"""

from __future__ import annotations

import importlib

TRAINERS = {
    "stage1": ("vqtalker.motion.train", "train the stage-1 facial motion tokenizer"),
    "speech": ("vqtalker.speech.train", "train the offline default speech tokenizer"),
    "stage2": ("vqtalker.generate.train", "train the stage-2 coarse-to-fine motion generator"),
    "mouth": (
        "vqtalker.generate.mouth_predictor",
        "train the speech -> mouth-opening predictor (mouth guidance)",
    ),
}


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model component", description=__doc__)
    tsub = p.add_subparsers(dest="component", metavar="COMPONENT", required=True)
    for name, (modname, helptext) in TRAINERS.items():
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name and modname.startswith(exc.name):
                continue
            raise
        tp = tsub.add_parser(name, help=helptext)
        module.add_arguments(tp)
        tp.set_defaults(func=module.run)
