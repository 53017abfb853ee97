"""Training data: raw talking-head videos → face-cropped 25-fps clips with 16 kHz speech and controls.

Modules (heavy dependencies such as mediapipe and torch are imported only where needed):

* :mod:`vqtalker.face.tracker` — mediapipe face mesh (478 points) / detection, the square crop convention,
  :func:`~vqtalker.face.tracker.crop_portrait` for user portraits.
* :mod:`vqtalker.face.controls` — pose (yaw, pitch, roll degrees), gaze (2), blink (2), eye/mouth boxes
  from landmarks ``[T, 478, 3]``; :mod:`vqtalker.face.reference` holds the neutral pose reference.
* :mod:`vqtalker.data.prepare` — the ``vqtalker prepare`` pipeline; :mod:`vqtalker.data.layout` — the
  on-disk format and index; :mod:`vqtalker.data.preview` — contact sheets.
* :mod:`vqtalker.data.datasets` — ``FramePairDataset`` (stage 1) and ``WindowDataset`` (stage 2).
"""
