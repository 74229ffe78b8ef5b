"""Benchmark: image -> audio of ours ("fast", "griffinlim") against torchaudio's reference recipe.

Run `python bench/converter.py` from the repository root. For each reference clip it encodes a
spectrogram image (mono by default, `--stereo` for stereo) and rebuilds the audio with
- baseline: torchaudio InverseMelScale (least-squares, default driver, clamped at 0) followed by
  GriffinLim(n_iter=32, momentum=0.99, power=1) with the same n_fft / hop / window,
- ours, method "fast" (the default) and method "griffinlim".
Quality is the spectral convergence ||S - a S'||_F / ||S||_F between the mel spectrogram the image
encodes (S) and that of the rebuilt audio (S'), both read back through the same image encoding; a
is the least-squares scale (audio is peak-normalised, so absolute levels do not matter). Times
are wall clock and CPU (time.process_time, all threads) of the image -> audio call only; the
one-off converter setup (filterbank pseudo-inverse) is reported separately.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchaudio
from PIL import Image
from pydub import AudioSegment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from riffusion_core.audio import samples_to_segment
from riffusion_core.converter import SpectrogramImageConverter
from riffusion_core.image import spectrogram_from_image
from riffusion_core.phase import FastPhaseSettings
from riffusion_core.spectrogram_params import SpectrogramParams
from tests.conftest import REFERENCE_DIR

CLIPS = (
    "clip_0_start_15795_ms_duration_5678_ms",
    "clip_1_start_860_ms_duration_5678_ms",
    "clip_2_start_103694_ms_duration_5678_ms",
)


@dataclass
class Measurement:
    wall_s: float
    cpu_s: float
    convergence: float


class TorchaudioBaseline:
    """The reference recipe with today's torchaudio (new least-squares InverseMelScale)."""

    def __init__(self, params: SpectrogramParams) -> None:
        self.params = params
        self.inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=params.n_fft // 2 + 1,
            n_mels=params.num_frequencies,
            sample_rate=params.sample_rate,
            f_min=params.min_frequency,
            f_max=params.max_frequency,
            norm=None,
            mel_scale="htk",
        )
        self.griffin_lim = torchaudio.transforms.GriffinLim(
            n_fft=params.n_fft,
            n_iter=32,
            win_length=params.win_length,
            hop_length=params.hop_length,
            power=1.0,
            momentum=0.99,
        )

    def audio_from_spectrogram_image(self, image: Image.Image, seed: int) -> AudioSegment:
        mel = spectrogram_from_image(image, self.params)
        torch.manual_seed(seed)
        with torch.inference_mode():
            linear = self.inverse_mel(mel)
            self.griffin_lim.length = self.params.num_samples(mel.shape[-1])
            samples = self.griffin_lim(linear)
        return samples_to_segment(samples.numpy(), self.params.sample_rate, normalize=True)


def spectral_convergence(
    converter: SpectrogramImageConverter, image: Image.Image, audio: AudioSegment
) -> float:
    """||S - a S'|| / ||S|| with S, S' read from images made the same way, a least squares."""
    params = dataclasses.replace(converter.params, stereo=audio.channels == 2)
    rebuilt = (
        converter.spectrogram_image_from_audio(audio)
        if not params.stereo
        else (SpectrogramImageConverter(params).spectrogram_image_from_audio(audio))
    )
    target = spectrogram_from_image(image, params, use_max_value=False).double()
    ours = spectrogram_from_image(rebuilt, params, use_max_value=False).double()
    scale = (target * ours).sum() / (ours * ours).sum()
    return float(torch.linalg.norm(target - scale * ours) / torch.linalg.norm(target))


def measure(
    run: Callable[[], AudioSegment], converter: SpectrogramImageConverter, image: Image.Image
) -> Measurement:
    wall, cpu = time.perf_counter(), time.process_time()
    audio = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Measurement(wall, cpu, spectral_convergence(converter, image, audio))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stereo", action="store_true", help="stereo images (default mono)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--coarse", type=int, default=None, help="override fast coarse iterations")
    parser.add_argument("--fine", type=int, default=None, help="override fast fine iterations")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    settings = FastPhaseSettings()
    if args.coarse is not None:
        settings = dataclasses.replace(settings, coarse_iterations=args.coarse)
    if args.fine is not None:
        settings = dataclasses.replace(settings, fine_iterations=args.fine)

    params = SpectrogramParams(stereo=args.stereo)
    setup = time.perf_counter()
    converter = SpectrogramImageConverter(params)
    setup = time.perf_counter() - setup
    baseline = TorchaudioBaseline(params)
    print(
        f"torch {torch.__version__}, torchaudio {torchaudio.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
        f"{'stereo' if args.stereo else 'mono'} images; {settings}"
    )
    print(f"converter setup (one-off, cached): {setup:.2f} s")

    # Warm-up so that first-call costs (allocator, FFT plans) do not land on one method.
    warm = converter.spectrogram_image_from_audio(AudioSegment.silent(1000, frame_rate=44100))
    converter.audio_from_spectrogram_image(warm, seed=0)
    baseline.audio_from_spectrogram_image(warm, seed=0)

    header = f"{'clip':<6}{'method':<18}{'wall s':>8}{'CPU s':>8}{'SC':>8}{'CPU/base':>10}"
    print(header)
    for index in args.clips:
        segment = AudioSegment.from_wav(REFERENCE_DIR / f"{CLIPS[index]}.wav")
        image = converter.spectrogram_image_from_audio(segment)
        runs: dict[str, Callable[[], AudioSegment]] = {
            "ours fast": lambda image=image: converter.audio_from_spectrogram_image(
                image, seed=args.seed, fast_settings=settings
            ),
            "ours griffinlim": lambda image=image: converter.audio_from_spectrogram_image(
                image, seed=args.seed, method="griffinlim"
            ),
        }
        if not args.skip_baseline:
            runs = {
                "baseline": lambda image=image: baseline.audio_from_spectrogram_image(
                    image, seed=args.seed
                ),
                **runs,
            }
        results = {name: measure(run, converter, image) for name, run in runs.items()}
        base = results.get("baseline")
        for name, result in results.items():
            ratio = f"{result.cpu_s / base.cpu_s:10.2f}" if base else f"{'':>10}"
            print(
                f"{index:<6}{name:<18}{result.wall_s:8.2f}{result.cpu_s:8.2f}"
                f"{result.convergence:8.4f}{ratio}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
