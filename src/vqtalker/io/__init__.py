"""Audio and video input/output. Heavy codecs (PyAV) are imported lazily inside functions."""
