"""Training data: raw talking-head videos → face-cropped 25-fps clips with 16 kHz speech and controls.

Modules (heavy dependencies such as mediapipe and torch are imported only where needed):

* :mod:`vqtalker.data.prepare` — the ``vqtalker prepare`` pipeline; :mod:`vqtalker.data.layout` — the
  on-disk format and index; :mod:`vqtalker.data.preview` — contact sheets;
* :mod:`vqtalker.data.datasets` — ``FramePairDataset`` (stage 1; stage 2 reads its own cache,
  :mod:`vqtalker.generate.data`).

Face geometry (tracking, crops, pose/gaze/blink, lip measures) lives one layer below, in
:mod:`vqtalker.face`.
"""
