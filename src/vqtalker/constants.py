"""Rates, sizes and packaged-weight paths shared by every layer (imports nothing from the project)."""

from pathlib import Path

#: video frame rate of every prepared clip, generated video and motion-token stream (frames per second)
FPS = 25
#: speech sample rate everywhere inside the project (Hz, mono)
SAMPLE_RATE = 16000
#: audio samples per video frame (16 kHz / 25 fps)
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS
#: speech-unit rate of the speech tokenizers (units per second; two per video frame)
SPEECH_HZ = 50
#: log-mel frame rate of the mouth predictor and the log-mel speech features (frames per second)
MEL_HZ = 100

#: weights shipped in the package (trained here, fp16 safetensors, each with a model card)
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_STAGE1 = DEFAULT_WEIGHTS_DIR / "stage1" / "lite-128-fullres.safetensors"
#: the previous default (the same tokens, the 128-px renderer alone); still loadable with --stage1
PREVIOUS_STAGE1 = DEFAULT_WEIGHTS_DIR / "stage1" / "lite-128.safetensors"
DEFAULT_STAGE2 = DEFAULT_WEIGHTS_DIR / "stage2" / "lite.safetensors"
DEFAULT_MOUTH = DEFAULT_WEIGHTS_DIR / "stage2" / "mouth.safetensors"
