"""Prediction: a model restored from a checkpoint, per-video files for a split, and test submissions.

The batched inference itself is :mod:`abaw.runtime.evaluation`, which the trainer's validation shares.
"""
