"""Generation benchmark: how fast does the Riffusion architecture turn a prompt into an MP3?

Riffusion is Stable Diffusion 1.5 (UNet, VAE, CLIP ViT-L/14 text encoder) fine-tuned on
spectrograms. Speed depends on the architecture, not on the trained weights, so this builds the
real-size SD 1.5 modules from their published config values with RANDOM weights: nothing is
downloaded and the numbers apply to the real checkpoint. It times, for one 512 x 512 clip
(5.11 s of audio) per prompt at each batch size:

- the UNet step (classifier-free guidance: 2 x batch latents per pass),
- end to end: text encoding -> denoising loop -> VAE decode -> spectrogram image -> phase
  reconstruction (riffusion_core's converter) -> MP3 bytes,

and reports the real-time factor (seconds of audio produced per wall-clock second; > 1 is faster
than playback). Text-to-audio at `--steps` scheduler steps; img2img at denoising 0.75 runs about
0.75 x as many UNet passes, so scale the step figure accordingly.

    python bench/generate.py                       # CPU: batch 1, 2 PNDM steps
    python bench/generate.py --batch 1 4 8         # more batch sizes
    python bench/generate.py --device cuda --steps 20 --scheduler dpmsolver++ --compile
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import (
    AutoencoderKL,
    DPMSolverMultistepScheduler,
    PNDMScheduler,
    UNet2DConditionModel,
)
from diffusers.utils import logging as diffusers_logging
from PIL import Image
from transformers import CLIPTextConfig, CLIPTextModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from riffusion_core.audio import encode_mp3
from riffusion_core.converter import get_converter
from riffusion_core.spectrogram_params import SpectrogramParams

GUIDANCE = 7.0
TOKENS = 77

# Stable Diffusion 1.5 (runwayml/stable-diffusion-v1-5 and riffusion/riffusion-model-v1) configs.
SD15_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    cross_attention_dim=768,
    attention_head_dim=8,
    norm_num_groups=32,
)
SD15_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=512,
    scaling_factor=0.18215,
)
SD15_CLIP_TEXT = dict(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=TOKENS,
    hidden_act="quick_gelu",
    projection_dim=768,
)
SCHEDULER = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    num_train_timesteps=1000,
    steps_offset=1,
    prediction_type="epsilon",
)


@dataclass
class Row:
    batch: int
    steps: int
    unet_passes: int  # PNDM repeats one timestep: 2 steps = 3 passes
    unet_step_s: float  # median wall time of one UNet pass (2 x batch latents)
    text_s: float
    denoise_s: float
    vae_decode_s: float
    to_audio_s: float  # spectrogram image -> waveform, all clips of the batch
    mp3_s: float
    end_to_end_s: float
    cpu_s: float  # CPU time of this process over end_to_end_s (all threads): robust to contention
    audio_s: float
    realtime_factor: float


def make_scheduler(name: str):
    if name == "pndm":
        return PNDMScheduler(**SCHEDULER, skip_prk_steps=True, set_alpha_to_one=False)
    return DPMSolverMultistepScheduler(**SCHEDULER, algorithm_type="dpmsolver++")


def build(device: torch.device, dtype: torch.dtype, channels_last: bool, compile_mode: str | None):
    """Random-weight SD 1.5 modules on `device` (fixed seed, so runs are comparable)."""
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD15_UNET).to(device, dtype).eval()
    vae = AutoencoderKL(**SD15_VAE).to(device, dtype).eval()
    text = CLIPTextModel(CLIPTextConfig(**SD15_CLIP_TEXT)).to(device, dtype).eval()
    if channels_last:
        unet.to(memory_format=torch.channels_last)
        vae.to(memory_format=torch.channels_last)
    if compile_mode is not None:
        unet = torch.compile(unet, mode=None if compile_mode == "default" else compile_mode)
    return unet, vae, text


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def to_images(decoded: torch.Tensor) -> list[Image.Image]:
    # Random fp16 weights can overflow to inf/NaN; the timing does not care, the cast does.
    decoded = torch.nan_to_num(decoded.float(), nan=0.0, posinf=1.0, neginf=-1.0)
    pixels = ((decoded.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    array = pixels.permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(np.ascontiguousarray(a)) for a in array]


@torch.inference_mode()
def run_once(models, batch: int, steps: int, scheduler_name: str, device, dtype, width: int):
    """One prompt-to-MP3 pass for `batch` clips; returns a Row."""
    unet, vae, text = models
    converter = get_converter(SpectrogramParams(), str(device))
    generator = torch.Generator("cpu").manual_seed(1234)
    started = time.perf_counter()
    cpu_started = time.process_time()

    ids = torch.randint(0, SD15_CLIP_TEXT["vocab_size"], (2 * batch, TOKENS), generator=generator)
    embeds = text(ids.to(device))[0]  # unconditional + conditional, as with guidance
    sync(device)
    text_done = time.perf_counter()

    scheduler = make_scheduler(scheduler_name)
    scheduler.set_timesteps(steps, device=device)
    latents = torch.randn((batch, 4, 64, width // 8), generator=generator).to(device, dtype)
    latents = latents * scheduler.init_noise_sigma
    step_times = []
    for t in scheduler.timesteps:
        step_start = time.perf_counter()
        model_in = scheduler.scale_model_input(torch.cat([latents, latents]), t)
        noise = unet(model_in, t, encoder_hidden_states=embeds).sample
        uncond, cond = noise.chunk(2)
        latents = scheduler.step(uncond + GUIDANCE * (cond - uncond), t, latents).prev_sample
        sync(device)
        step_times.append(time.perf_counter() - step_start)
    denoise_done = time.perf_counter()

    decoded = vae.decode(latents / vae.config.scaling_factor).sample
    images = to_images(decoded)
    sync(device)
    vae_done = time.perf_counter()

    clips = [converter.audio_from_spectrogram_image(im, seed=0) for im in images]
    audio_done = time.perf_counter()
    mp3s = [encode_mp3(clip) for clip in clips]
    finished = time.perf_counter()
    assert all(len(m) > 1000 for m in mp3s)

    audio_s = sum(c.frame_count() / c.frame_rate for c in clips)
    total = finished - started
    cpu_s = time.process_time() - cpu_started
    return Row(
        batch=batch,
        steps=steps,
        unet_passes=len(step_times),
        unet_step_s=round(statistics.median(step_times), 4),
        text_s=round(text_done - started, 4),
        denoise_s=round(denoise_done - text_done, 4),
        vae_decode_s=round(vae_done - denoise_done, 4),
        to_audio_s=round(audio_done - vae_done, 4),
        mp3_s=round(finished - audio_done, 4),
        end_to_end_s=round(total, 4),
        cpu_s=round(cpu_s, 3),
        audio_s=round(audio_s, 3),
        realtime_factor=round(audio_s / total, 4),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, nargs="+", help="default: 1 on CPU, 1 4 8 on CUDA")
    parser.add_argument("--steps", type=int, help="default: 2 on CPU, 50 on CUDA")
    parser.add_argument("--scheduler", choices=["pndm", "dpmsolver++"], default="pndm")
    parser.add_argument("--width", type=int, default=512, help="image width (512 = 5.11 s)")
    parser.add_argument("--fp32", action="store_true", help="CUDA: keep fp32 (default fp16)")
    parser.add_argument(
        "--compile",
        nargs="?",
        const="default",
        default=None,
        metavar="MODE",
        help="torch.compile the UNet (optional mode, e.g. max-autotune)",
    )
    parser.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run an untimed first pass (default: on CUDA only)",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = torch.float16 if cuda and not args.fp32 else torch.float32
    batches = args.batch or ([1, 4, 8] if cuda else [1])
    steps = args.steps or (50 if cuda else 2)
    warmup = cuda if args.warmup is None else args.warmup
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    diffusers_logging.set_verbosity_error()  # no "cast with from_pretrained" advice: no checkpoint
    build_start = time.perf_counter()
    models = build(device, dtype, channels_last=cuda, compile_mode=args.compile)
    build_s = time.perf_counter() - build_start
    print(f"built SD 1.5 (random weights) on {device} {dtype} in {build_s:.1f} s", flush=True)

    rows = []
    for batch in batches:
        if warmup:  # first pass pays for allocation, cuDNN tuning and compilation
            run_once(models, batch, min(steps, 2), args.scheduler, device, dtype, args.width)
        row = run_once(models, batch, steps, args.scheduler, device, dtype, args.width)
        rows.append(row)
        print(json.dumps(asdict(row)), flush=True)

    header = (
        "| batch | steps | UNet passes | UNet step s | text s | denoise s | VAE s | to audio s "
        "| MP3 s | end to end s | CPU s | audio s | real-time factor |"
    )
    print()
    print(
        f"device {device} ({platform.processor() or platform.machine()}), dtype {dtype}, "
        f"scheduler {args.scheduler}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, compile {args.compile}"
    )
    print(header)
    print("|" + "---|" * 13)
    for r in rows:
        print(
            f"| {r.batch} | {r.steps} | {r.unet_passes} | {r.unet_step_s:.3f} | {r.text_s:.3f} | "
            f"{r.denoise_s:.2f} | {r.vae_decode_s:.2f} | {r.to_audio_s:.2f} | {r.mp3_s:.3f} | "
            f"{r.end_to_end_s:.2f} | {r.cpu_s:.1f} | {r.audio_s:.2f} | {r.realtime_factor:.3f} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"build_s": build_s, "rows": [asdict(r) for r in rows]}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
