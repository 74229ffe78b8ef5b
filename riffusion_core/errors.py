"""Errors whose message is written for the person who caused them.

Every error raised for bad input (an unreadable upload, an image that is not a spectrogram, a
model that cannot be found) derives from `RiffusionError`. Its `str()` is one sentence a user can
act on, so the CLI prints it as is and the bot shows it in Discord without a traceback.
"""


class RiffusionError(Exception):
    """Base class: the message is one clear line meant for the user."""


class AudioDecodeError(RiffusionError):
    """The input is not audio we can decode (empty, truncated, wrong type, too long...)."""


class AudioExportError(RiffusionError):
    """The audio cannot be written the way it was asked for (format, size limit)."""


class SpectrogramImageError(RiffusionError):
    """The image cannot be read as a Riffusion spectrogram."""


class ModelLoadError(RiffusionError):
    """The diffusion model cannot be loaded (missing weights, offline, wrong folder)."""


class GenerationCancelled(RiffusionError):
    """A generation was cancelled by its owner before it finished."""

    def __init__(self, message: str = "The generation was cancelled.") -> None:
        super().__init__(message)
