"""Speech side of VQTalker: pluggable speech tokenizers at 50 Hz and their alignment to 25-fps video.

>>> from vqtalker.speech import load_speech_tokenizer, align_tokens, tokens_to_frames
>>> tok = load_speech_tokenizer("default")          # offline k-means codebook shipped with the package
>>> codes = tok.encode(wave, sample_rate)            # LongTensor [N], N = n_samples_16k // 320 (50 Hz)
>>> T = tokens_to_frames(len(codes))                # floor(N / 2) video frames at 25 fps
>>> codes = align_tokens(codes, T)                   # exactly 2 T codes; frame t owns codes 2t, 2t+1

Backends: ``default`` (trained here), ``s3`` (CosyVoice S3Tokenizer v1 from a local ONNX file),
``logmel`` (continuous, ``encode_features`` → ``[N, 128]``), ``hash`` (deterministic, weight-free).
Training: ``vqtalker train speech --out DIR`` (:mod:`vqtalker.solvers.speech`).
"""

from vqtalker.speech.base import (
    VIDEO_FPS,
    SpeechTokenizer,
    align_tokens,
    frames_to_tokens,
    prepare_wave,
    tokens_to_frames,
)
from vqtalker.speech.registry import available_speech_tokenizers, load_speech_tokenizer

__all__ = [
    "VIDEO_FPS",
    "SpeechTokenizer",
    "align_tokens",
    "available_speech_tokenizers",
    "frames_to_tokens",
    "load_speech_tokenizer",
    "prepare_wave",
    "tokens_to_frames",
]
