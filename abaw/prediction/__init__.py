"""Prediction: batched inference from a checkpoint, per-video files for a split, and test submissions."""
