"""Riffusion without Discord: spectrogram <-> audio conversion, audio I/O and generation."""

import warnings

__version__ = "0.1.0"

# pydub looks for a system ffmpeg when it is first imported and warns if there is none. We never
# need one: riffusion_core.audio points pydub at the ffmpeg shipped in the imageio-ffmpeg wheel.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv", category=RuntimeWarning)
