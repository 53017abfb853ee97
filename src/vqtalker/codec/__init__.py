"""The talking-head codec: frames → motion tokens (+ side information) → frames, as a library."""
