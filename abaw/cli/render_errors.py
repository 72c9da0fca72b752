"""The one line an :class:`~abaw.errors.AbawError` prints as, with the command that fixes it where there is one."""

from __future__ import annotations

from abaw.cli.render_audio import audio_features_command
from abaw.cli.render_embed import embeddings_command
from abaw.data.audio import AudioFeaturesNotReady
from abaw.data.embeddings import EmbeddingsNotReady
from abaw.errors import AbawError


def error_line(error: AbawError) -> str:
    """The one line an error prints as, with the command that fixes it where there is one."""
    if isinstance(error, AudioFeaturesNotReady):
        return f"{error}; run '{audio_features_command(error.layout, error.config)}'"
    if isinstance(error, EmbeddingsNotReady):
        return f"{error}; run '{embeddings_command(error)}'"
    return str(error)
