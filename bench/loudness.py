"""Benchmark: loudness of what users hear (the decoded MP3), before and after issue 12.

Run `python bench/loudness.py` from the repository root. Sources:
- the bundled seed loops (riffusion_core/seed_images/*.png) and Riffusion's own seed images
  (../shared/reference/riffusion-seed-images/*.png, mode L/P without EXIF: default parameters),
  each decoded to audio by the converter (seed 0), as a generated clip would be;
- the three reference clips (../shared/reference/riffusion-test-data/*.wav), as audio.
"before" is today's export: the converter's peak normalisation to -0.1 dBFS, straight to MP3.
"after" is riffusion_core.loudness.normalise (target -12 dBFS RMS, true peak <= -1 dBTP) then
MP3. Both are encoded at 192 kbps (the bot's first choice), decoded to float with PyAV and
measured: RMS (dBFS, all channels) and true peak (dBTP, 4x oversampled). "crest" is the source's
true peak minus its RMS: above ceiling - target (11 dB) the limiter has work to do. An output
passes when its RMS is within 1 dB of the target, or (when a limiter taking at most 12 dB off a
peak cannot get there) its true peak sits at the ceiling; no true peak may exceed the ceiling.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from riffusion_core.audio import (  # noqa: E402
    AudioSegment,
    encode_mp3,
    samples_to_segment,
    segment_to_samples,
)
from riffusion_core.converter import get_converter  # noqa: E402
from riffusion_core.image import open_image  # noqa: E402
from riffusion_core.loudness import (  # noqa: E402
    INT16_FULL_SCALE,
    LoudnessSettings,
    normalise,
    rms_dbfs,
    true_peak_dbfs,
)
from riffusion_core.spectrogram_params import SpectrogramParams  # noqa: E402

SHARED = ROOT.parent / "shared" / "reference"
TOLERANCE_DB = 1.0


def decode_mp3_float(data: bytes) -> np.ndarray:
    """(channels, frames) float samples of an MP3, unclipped (what a player's decoder gives)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray() for frame in container.decode(stream)]
    planar = np.concatenate(frames, axis=-1)
    if stream.codec_context.format.is_packed:  # pragma: no cover - mp3 decodes planar
        planar = planar.reshape(-1, stream.codec_context.channels).T
    return planar.astype(np.float64)


def sources() -> list[tuple[str, str, AudioSegment]]:
    converter = get_converter(SpectrogramParams(), "cpu")
    found: list[tuple[str, str, AudioSegment]] = []
    groups = (
        ("bundled loop", sorted((ROOT / "riffusion_core" / "seed_images").glob("*.png"))),
        ("reference seed", sorted((SHARED / "riffusion-seed-images").glob("*.png"))),
    )
    for kind, paths in groups:
        for path in paths:
            image = open_image(path)
            found.append((kind, path.stem, converter.audio_from_spectrogram_image(image, seed=0)))
    for path in sorted((SHARED / "riffusion-test-data").glob("*.wav")):
        raw = AudioSegment.from_file(path)
        peaked = samples_to_segment(segment_to_samples(raw), raw.frame_rate, normalize=True)
        found.append(("reference clip", path.stem[:6], peaked))
    return found


def measure(segment: AudioSegment) -> tuple[float, float]:
    decoded = decode_mp3_float(encode_mp3(segment, 192))
    return rms_dbfs(decoded), true_peak_dbfs(decoded)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=float, default=-12.0, help="target RMS, dBFS")
    parser.add_argument("--ceiling", type=float, default=-1.0, help="true-peak ceiling, dBTP")
    args = parser.parse_args()
    settings = LoudnessSettings(target_rms_dbfs=args.target, ceiling_dbtp=args.ceiling)
    print(
        "| source | name | crest dB | before RMS | before TP | after RMS | after TP | "
        "RMS error | verdict | normalise s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
    failures = 0
    for kind, name, segment in sources():
        x = segment_to_samples(segment) / INT16_FULL_SCALE
        crest = true_peak_dbfs(x) - rms_dbfs(x)
        before_rms, before_tp = measure(segment)
        started = time.perf_counter()
        loud = normalise(segment, settings)
        took = time.perf_counter() - started
        after_rms, after_tp = measure(loud)
        error = after_rms - settings.target_rms_dbfs
        if abs(error) <= TOLERANCE_DB:
            verdict = "target"
        elif after_tp >= settings.ceiling_dbtp - 0.5:
            verdict = "at ceiling"
        else:
            verdict = "MISSED"
        if after_tp > settings.ceiling_dbtp or verdict == "MISSED":
            verdict += " (FAIL)"
            failures += 1
        print(
            f"| {kind} | {name} | {crest:.1f} | {before_rms:.2f} | {before_tp:+.2f} | "
            f"{after_rms:.2f} | {after_tp:+.2f} | {error:+.2f} | {verdict} | {took:.3f} |"
        )
    print(
        f"\n{failures} failure(s); target {settings.target_rms_dbfs} dBFS RMS within "
        f"{TOLERANCE_DB} dB, or at the ceiling ({settings.ceiling_dbtp} dBTP, within 0.5 dB "
        f"after MP3) when the limiter's {settings.max_limiting_db} dB cannot reach it"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
