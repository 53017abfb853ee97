"""Evaluation: metrics and reports for reconstruction, speech-driven animation and the codec."""
