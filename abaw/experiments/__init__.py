"""Measured comparisons over several training seeds (``abaw experiment``)."""
