"""Build a tiny, randomly initialised Stable Diffusion pipeline with Riffusion's geometry.

Tests need a real diffusers folder (model_index.json, configs, weights, tokenizer files) that
loads through the same `from_pretrained` path users take, but the real checkpoint is 4 GB and the
test machine is offline. This builds one of about 1 MB in a few seconds: SD 1.5 shapes where they
matter (VAE scale factor 8, 4 latent channels, 77-token CLIP text encoder, Riffusion's PNDM
scheduler) and tiny widths everywhere else. The tokenizer is written locally (byte-level
characters plus a few merges), so nothing is downloaded. Same script = same bytes: fixed seed.

    python scripts/make_tiny_model.py OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

SEED = 0
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
# A handful of merges so that common words become fewer tokens, as with the real CLIP tokenizer.
MERGES = ["t h", "th e</w>", "i n", "e r", "a n", "o n", "in g</w>", "e n", "r o", "c k</w>"]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable characters."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def write_tokenizer_files(folder: Path) -> None:
    """Write vocab.json and merges.txt in CLIP's BPE format (byte-level characters + merges)."""
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(_bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols]
    vocab_list += ["".join(m.split(" ")) for m in MERGES]
    vocab_list += [BOS, EOS]
    vocab = {token: index for index, token in enumerate(vocab_list)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(MERGES) + "\n", encoding="utf-8"
    )


def _tokenizer(scratch: Path) -> CLIPTokenizer:
    write_tokenizer_files(scratch)
    return CLIPTokenizer.from_pretrained(str(scratch), model_max_length=77)


def _scheduler() -> PNDMScheduler:
    """The scheduler exactly as Riffusion's checkpoint configures it."""
    return PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        skip_prk_steps=True,
        steps_offset=1,
        set_alpha_to_one=False,
        prediction_type="epsilon",
    )


def _text_encoder(tokenizer: CLIPTokenizer) -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=32,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def _unet() -> UNet2DConditionModel:
    # Cross-attention only at 1/4 latent resolution (and in the mid block): a 512 x 512 step
    # costs about 0.1 s of CPU instead of 0.7 s with attention at 1/2 resolution too.
    return UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )


def _vae() -> AutoencoderKL:
    # Four blocks = three downsamplings = SD's scale factor 8. No mid-block attention: at
    # 64 x 64 latents it would dominate the CPU time of every test.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 8, 8, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=512,
        mid_block_add_attention=False,
    )


def build_tiny_model(out_dir: Path) -> Path:
    """Write the tiny pipeline to `out_dir` (a diffusers folder) and return `out_dir`."""
    out_dir = Path(out_dir)
    torch.manual_seed(SEED)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = _tokenizer(Path(scratch))
        text_encoder = _text_encoder(tokenizer)
        unet = _unet()
        vae = _vae()
        pipe = StableDiffusionPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=_scheduler(),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.save_pretrained(str(out_dir))
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder to write the pipeline into")
    args = parser.parse_args(argv)
    path = build_tiny_model(args.out_dir)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
