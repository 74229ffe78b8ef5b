"""RiffusionPipeline: Stable Diffusion for spectrograms, in one readable diffusers pipeline.

It loads a standard StableDiffusionPipeline folder (vae, text_encoder, tokenizer, unet,
scheduler) and renders `GenerationRequest`s into spectrogram images: text-to-audio from seeded
noise, img2img from a seed image, interpolation between two prompt ends, masks, weighted and
arbitrarily long prompts. Compatible requests share one UNet batch; every image equals rendering
its request alone. Like diffusers' pipelines it returns images only (the spectrogram parameters
in their EXIF): turning them into sound is riffusion_core.clips' job.

The denoising loop is written out here rather than borrowed from diffusers' pipelines because
Riffusion needs things they do not offer together: per-item guidance and seeds in one batch,
slerped noise, and interpolated embeddings with negative prompts. Progress and cancellation use
diffusers' conventions: `callback_on_step_end` after every UNet pass, and `interrupt`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeAlias

import numpy as np
import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DiffusionPipeline,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    PNDMScheduler,
    UNet2DConditionModel,
)
from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback
from diffusers.utils import BaseOutput
from PIL import Image
from transformers import CLIPTextModel, CLIPTokenizer

from riffusion_core.errors import RiffusionError
from riffusion_core.generation import (
    DEFAULT_MAX_BATCH_SIZE,
    HEIGHT,
    GenerationRequest,
    PromptInput,
)
from riffusion_core.image import mono_spectrogram_image
from riffusion_core.interpolation import slerp
from riffusion_core.prompt_weights import chunk_tokens, parse_prompt_weights
from riffusion_core.seed_images import fit_width, load_seed_image
from riffusion_core.spectrogram_params import SpectrogramParams

StepCallback = Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]
"""callback_on_step_end(pipe, step_index, timestep, callback_kwargs) -> callback_kwargs."""
StepEndCallback: TypeAlias = StepCallback | PipelineCallback | MultiPipelineCallbacks


class SchedulerClass(Protocol):
    """A diffusers scheduler class: built from a checkpoint's scheduler config."""

    def from_config(self, config: dict[str, Any]) -> Any: ...


# name -> (scheduler class, config overrides). "pndm" is what the Riffusion checkpoint ships with.
SCHEDULERS: dict[str, tuple[SchedulerClass, dict[str, Any]]] = {
    "pndm": (PNDMScheduler, {"skip_prk_steps": True}),
    "dpmsolver++": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++"}),
    "ddim": (DDIMScheduler, {}),
    "euler": (EulerDiscreteScheduler, {}),
}
_SCHEDULER_ALIASES = {"dpm++": "dpmsolver++", "dpm": "dpmsolver++", "dpmsolver": "dpmsolver++"}


@dataclass(frozen=True)
class RenderInfo:
    """How one output image was rendered: what a clip's record keeps besides the image."""

    seeds: tuple[int, ...]  # start seed, and end seed for a blend
    scheduler: str
    unet_steps: int  # UNet passes actually run (img2img runs fewer than num_inference_steps)
    batch: int  # which UNet batch of the call rendered it
    batch_size: int  # how many requests shared that batch
    batch_elapsed_s: float  # wall time of that batch: denoising and VAE decoding


@dataclass
class RiffusionPipelineOutput(BaseOutput):
    """The spectrograms, in request order (RGB, EXIF with the spectrogram parameters), and how
    each was rendered. Empty when the call was interrupted."""

    images: list[Image.Image]
    renders: list[RenderInfo]


@dataclass
class _Conditioning:
    """Text embeddings of one request: (1, 77 * chunks, D) each, same length."""

    cond: torch.Tensor
    uncond: torch.Tensor


@dataclass
class _Item:
    """One request prepared for the loop."""

    index: int
    request: GenerationRequest
    seeds: tuple[int, ...]
    conditioning: _Conditioning
    kind: str  # "txt2img" or "img2img"

    @property
    def key(self) -> tuple:
        """Requests with equal keys can share a UNet batch without changing their results."""
        strength = self.request.denoising if self.kind == "img2img" else None
        return (
            self.request.num_inference_steps,
            self.request.width,
            self.kind,
            strength,
            self.request.uses_cfg,
            tuple(self.conditioning.cond.shape),
        )


@dataclass
class _Group:
    """Requests rendered as one UNet batch, with their own scheduler instance."""

    items: list[_Item]
    timesteps: torch.Tensor
    scheduler: Any


def img2img_begin(schedule_length: int, order: int, steps: int, request: GenerationRequest) -> int:
    """Index of the first timestep an img2img render runs.

    diffusers' img2img (`get_timesteps`) skips the first (steps - int(steps * strength)) steps.
    PNDM with skip_prk_steps has steps + 1 timesteps (981, 961, 961, ... for 50), so at strength
    1.0 that runs one pass more than asked, from 981. The reference (which counted
    `steps_offset`) ran exactly 50 from 961 there; so does this: an img2img render never runs
    more than `steps` passes. Below 1.0, and for every other scheduler, this is diffusers' slice.
    """
    skipped = (steps - request.denoising_passes) * order
    return max(skipped, schedule_length - steps * order)


class RiffusionPipeline(DiffusionPipeline):
    """Riffusion's text/image-to-spectrogram diffusion; see the module docstring."""

    model_cpu_offload_seq = "text_encoder->unet->vae"
    _callback_tensor_inputs: ClassVar[list[str]] = ["latents", "prompt_embeds"]
    # The published checkpoint lists a safety checker; it means nothing on spectrograms. Naming
    # the components here lets load_pipeline pass None so they are neither downloaded nor loaded.
    _optional_components: ClassVar[list[str]] = ["safety_checker", "feature_extractor"]

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNet2DConditionModel,
        scheduler: Any,
        safety_checker: Any = None,
        feature_extractor: Any = None,
        requires_safety_checker: bool = False,
    ) -> None:
        super().__init__()
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
        )
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self._base_scheduler_config = dict(scheduler.config)
        self._scheduler_name = _name_of(scheduler)
        self._model_id: str | None = None
        self._empty_chunk: torch.Tensor | None = None
        self._interrupt = False
        self._num_timesteps = 0

    # ------------------------------------------------------------------ configuration

    @property
    def model_id(self) -> str:
        """Hub id or folder this pipeline was loaded from."""
        return self._model_id or str(getattr(self.config, "_name_or_path", "") or "")

    @model_id.setter
    def model_id(self, value: str) -> None:
        self._model_id = value

    @property
    def scheduler_name(self) -> str:
        return self._scheduler_name

    @property
    def interrupt(self) -> bool:
        """True once a step callback set `pipe._interrupt = True` (diffusers' convention): the
        loop stops after that step and the call returns no images. Reset by every call."""
        return self._interrupt

    @property
    def num_timesteps(self) -> int:
        """UNet passes of the current (or last) call, over all its batches."""
        return self._num_timesteps

    @staticmethod
    def available_schedulers() -> list[str]:
        return sorted(SCHEDULERS)

    def set_scheduler(self, name: str) -> None:
        """Switch sampler: "pndm" (the model's own), "dpmsolver++" (dpm++), "ddim", "euler".

        Built from the checkpoint's scheduler config, so the noise schedule stays Riffusion's.
        """
        key = _SCHEDULER_ALIASES.get(name.strip().lower(), name.strip().lower())
        if key not in SCHEDULERS:
            raise RiffusionError(
                f"Unknown scheduler {name!r}. Choose one of: {', '.join(sorted(SCHEDULERS))}."
            )
        cls, overrides = SCHEDULERS[key]
        self.scheduler = cls.from_config({**self._base_scheduler_config, **overrides})
        self._scheduler_name = key

    def optimize_for_device(self) -> None:
        """Memory layout and attention settings that help on the current device.

        SDPA attention is diffusers' default everywhere. channels_last speeds up convolutions on
        CUDA; attention slicing saves memory on Apple GPUs. On CPU neither helps.
        """
        device = self.device
        if device.type == "cuda":
            self.unet.to(memory_format=torch.channels_last)
            self.vae.to(memory_format=torch.channels_last)
        elif device.type == "mps":
            self.enable_attention_slicing()

    # ------------------------------------------------------------------ generation

    @torch.inference_mode()
    def __call__(
        self,
        requests: GenerationRequest | Sequence[GenerationRequest],
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        callback_on_step_end: StepCallback
        | PipelineCallback
        | MultiPipelineCallbacks
        | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
    ) -> RiffusionPipelineOutput:
        """Render `requests` (images in the same order).

        Compatible requests (same steps, width, kind and strength, all with or all without
        classifier-free guidance, same prompt length in chunks) share a UNet batch of at most
        `max_batch_size`. Guidance at or below 1 skips classifier-free guidance (no
        unconditional half, so half the UNet batch; the negative prompt is then unused, as in
        diffusers). `callback_on_step_end(self, step_index, timestep, callback_kwargs)` runs
        after every UNet pass; `step_index` counts
        the passes of every batch of this call (0 to `num_timesteps` - 1), `callback_kwargs`
        holds the tensors named in `callback_on_step_end_tensor_inputs` ("latents",
        "prompt_embeds"), and the tensors it returns replace them. A callback that sets
        `self._interrupt = True` stops the call after that step (see `interrupt`).
        """
        requests = [requests] if isinstance(requests, GenerationRequest) else list(requests)
        for request in requests:
            if not isinstance(request, GenerationRequest):
                raise RiffusionError("The pipeline takes GenerationRequest objects.")
        if isinstance(callback_on_step_end, PipelineCallback | MultiPipelineCallbacks):
            callback_on_step_end_tensor_inputs = callback_on_step_end.tensor_inputs
        unknown = set(callback_on_step_end_tensor_inputs) - set(self._callback_tensor_inputs)
        if unknown:
            raise ValueError(
                f"callback_on_step_end_tensor_inputs can only name {self._callback_tensor_inputs}"
                f", not {sorted(unknown)}."
            )
        self._interrupt = False
        items = [self._prepare(index, request) for index, request in enumerate(requests)]
        groups = self._group(items, max(1, int(max_batch_size)))
        self._num_timesteps = sum(len(group.timesteps) for group in groups)
        step = _StepHook(self, callback_on_step_end, tuple(callback_on_step_end_tensor_inputs))
        images: dict[int, Image.Image] = {}
        renders: dict[int, RenderInfo] = {}
        with self.progress_bar(total=self._num_timesteps) as progress_bar:
            for batch, group in enumerate(groups):
                started = time.perf_counter()
                latents = self._denoise(group, step, progress_bar)
                if self.interrupt:
                    break
                decoded = self._decode(latents)
                elapsed = time.perf_counter() - started
                for item, image in zip(group.items, decoded, strict=True):
                    images[item.index] = image
                    renders[item.index] = RenderInfo(
                        seeds=item.seeds,
                        scheduler=self._scheduler_name,
                        unet_steps=len(group.timesteps),
                        batch=batch,
                        batch_size=len(group.items),
                        batch_elapsed_s=elapsed,
                    )
        self.maybe_free_model_hooks()
        if self.interrupt:
            return RiffusionPipelineOutput(images=[], renders=[])
        order = range(len(requests))
        return RiffusionPipelineOutput(
            images=[images[i] for i in order], renders=[renders[i] for i in order]
        )

    # ------------------------------------------------------------------ preparation

    def _prepare(self, index: int, request: GenerationRequest) -> _Item:
        seeds = (
            (request.start.seed,) if request.end is None else (request.start.seed, request.end.seed)
        )
        kind = "txt2img" if request.seed_image is None else "img2img"
        return _Item(index, request, seeds, self._conditioning(request), kind)

    def _group(self, items: list[_Item], max_batch_size: int) -> list[_Group]:
        by_key: dict[tuple, list[_Item]] = {}
        for item in items:
            by_key.setdefault(item.key, []).append(item)
        groups = []
        for members in by_key.values():
            for start in range(0, len(members), max_batch_size):
                batch = members[start : start + max_batch_size]
                groups.append(self._schedule(batch))
        return groups

    def _schedule(self, items: list[_Item]) -> _Group:
        """A fresh scheduler per batch: scheduler state (PNDM history) must not be shared."""
        request = items[0].request
        scheduler = self.scheduler.__class__.from_config(self.scheduler.config)
        steps = request.num_inference_steps
        scheduler.set_timesteps(steps, device=self.device)
        begin = 0
        if items[0].kind == "img2img":
            begin = img2img_begin(len(scheduler.timesteps), scheduler.order, steps, request)
        timesteps = scheduler.timesteps[begin:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(begin)
        return _Group(items, timesteps, scheduler)

    # ------------------------------------------------------------------ text

    def _conditioning(self, request: GenerationRequest) -> _Conditioning:
        """Prompt and negative embeddings, interpolated at alpha, padded to one length.

        At alpha 0 (or 1) only the start (or end) is encoded, so the render equals that prompt
        alone even when the other end is longer.
        """
        ends: list[PromptInput]
        if request.end is None or request.alpha == 0:
            ends = [request.start]
        elif request.alpha == 1:
            ends = [request.end]
        else:
            ends = [request.start, request.end]
        cond = [self._encode_prompt(end.prompt) for end in ends]
        uncond = [self._encode_prompt(end.negative_prompt or "") for end in ends]
        if len(ends) == 2:
            a, b = self._pad_to_same(*cond)
            cond_t = torch.lerp(a, b, float(request.alpha))
            a, b = self._pad_to_same(*uncond)
            uncond_t = torch.lerp(a, b, float(request.alpha))
        else:
            cond_t, uncond_t = cond[0], uncond[0]
        cond_t, uncond_t = self._pad_to_same(cond_t, uncond_t)
        return _Conditioning(cond_t, uncond_t)

    @property
    def _chunk_tokens(self) -> int:
        return self.tokenizer.model_max_length - 2  # 75 between BOS and EOS

    @property
    def _comma_ids(self) -> frozenset[int]:
        return frozenset(self.tokenizer(",", add_special_tokens=False).input_ids[-1:])

    def _tokens(self, prompt: str) -> tuple[list[int], list[float]]:
        ids: list[int] = []
        weights: list[float] = []
        for text, weight in parse_prompt_weights(prompt):
            tokens = self.tokenizer(text, add_special_tokens=False, verbose=False).input_ids
            ids.extend(tokens)
            weights.extend([weight] * len(tokens))
        return ids, weights

    def _encode_prompt(self, prompt: str) -> torch.Tensor:
        """(1, 77 * chunks, D): chunks of up to 75 tokens, each wrapped in BOS/EOS, padded to 77
        and encoded alone (so prompts of any length work, unlike the reference)."""
        ids, weights = self._tokens(prompt)
        chunks = chunk_tokens(ids, weights, self._chunk_tokens, self._comma_ids)
        return torch.cat([self._encode_chunk(c_ids, c_w) for c_ids, c_w in chunks], dim=1)

    def _encode_chunk(self, ids: list[int], weights: list[float]) -> torch.Tensor:
        length = self.tokenizer.model_max_length
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        row = [self.tokenizer.bos_token_id, *ids, self.tokenizer.eos_token_id]
        row += [pad] * (length - len(row))
        input_ids = torch.tensor([row], dtype=torch.long, device=self.device)
        hidden = self.text_encoder(input_ids)[0]
        if any(w != 1.0 for w in weights):
            # Scale each token's embedding, then restore the chunk's mean so the overall
            # magnitude (which the UNet is sensitive to) stays where it was.
            scale = torch.ones(length, dtype=hidden.dtype, device=hidden.device)
            scale[1 : 1 + len(weights)] = torch.tensor(weights, dtype=hidden.dtype)
            mean_before = hidden.float().mean()
            hidden = hidden * scale[None, :, None]
            hidden = hidden * (mean_before / hidden.float().mean()).to(hidden.dtype)
        return hidden.to(dtype=self.unet.dtype)

    def _empty_embedding(self) -> torch.Tensor:
        if self._empty_chunk is None:
            self._empty_chunk = self._encode_chunk([], [])
        return self._empty_chunk

    def _pad_to_same(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append empty-prompt chunks to the shorter embedding so both have equal length."""
        empty = self._empty_embedding()
        while a.shape[1] < b.shape[1]:
            a = torch.cat([a, empty], dim=1)
        while b.shape[1] < a.shape[1]:
            b = torch.cat([b, empty], dim=1)
        return a, b

    # ------------------------------------------------------------------ latents

    def _latent_shape(self, width: int) -> tuple[int, int, int, int]:
        channels = self.unet.config.in_channels
        return (1, channels, HEIGHT // self.vae_scale_factor, width // self.vae_scale_factor)

    def _noise(self, item: _Item) -> torch.Tensor:
        """Initial noise for one item (float32, CPU).

        Noise is drawn on the CPU so a seed means the same noise on every device. A blend
        slerps the two seeds' noises.
        """
        shape = self._latent_shape(item.request.width)
        start_gen = torch.Generator("cpu").manual_seed(item.request.start.seed)
        noise = torch.randn(shape, generator=start_gen, dtype=torch.float32)
        end = item.request.end
        if end is not None and item.request.alpha > 0:
            end_gen = torch.Generator("cpu").manual_seed(end.seed)
            end_noise = torch.randn(shape, generator=end_gen, dtype=torch.float32)
            noise = slerp(float(item.request.alpha), noise, end_noise)
        return noise

    def _init_latents(
        self, request: GenerationRequest, cache: dict[tuple[str, int], Any]
    ) -> torch.Tensor:
        """VAE latents of the seed image, sampled as the reference samples them: from a fresh
        generator seeded with the start seed (so the sample's noise equals the start seed's
        initial noise), drawn on the CPU like every seed here so it means the same everywhere.
        """
        key = (str(request.seed_image), request.width)
        if key not in cache:
            image = fit_width(load_seed_image(str(request.seed_image)), request.width)
            pixels = _image_to_tensor(image).to(self.device, self.vae.dtype)
            cache[key] = self.vae.encode(pixels).latent_dist
        dist = cache[key]
        generator = torch.Generator("cpu").manual_seed(request.start.seed)
        eps = torch.randn(dist.mean.shape, generator=generator, dtype=torch.float32)
        sample = dist.mean + dist.std * eps.to(dist.mean.device, dist.mean.dtype)
        return sample * self.vae.config.scaling_factor

    def _keep_mask(self, request: GenerationRequest) -> torch.Tensor:
        """(1, 1, h, w) weights of the original latents: 1 where the mask is black."""
        h, w = self._latent_shape(request.width)[2:]
        try:
            with Image.open(Path(str(request.mask_image)).expanduser()) as opened:
                mask = opened.convert("L")
        except OSError as exc:
            raise RiffusionError(
                f"The mask {request.mask_image!r} is not a readable image."
            ) from exc
        mask = mask.resize((w, h), Image.Resampling.NEAREST)
        white = torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)
        return (1.0 - white)[None, None]

    # ------------------------------------------------------------------ the loop

    def _denoise(self, group: _Group, step: _StepHook, progress_bar: Any) -> torch.Tensor:
        device, dtype = self.device, self.unet.dtype
        scheduler, timesteps = group.scheduler, group.timesteps
        noises, inits, keeps = [], [], []
        encoded: dict[tuple[str, int], Any] = {}
        for item in group.items:
            noises.append(self._noise(item))
            if item.kind == "img2img":
                inits.append(self._init_latents(item.request, encoded))
                keeps.append(
                    self._keep_mask(item.request)
                    if item.request.mask_image
                    else torch.zeros((1, 1, 1, 1))
                )
        noise = torch.cat(noises).to(device, dtype)
        if inits:
            original = torch.cat(inits).to(device, dtype)
            first = timesteps[:1].repeat(len(group.items))
            latents = scheduler.add_noise(original, noise, first)
        else:
            original = None
            latents = noise * scheduler.init_noise_sigma
        masked = any(item.request.mask_image for item in group.items)
        keep = (
            torch.cat([k.expand(1, 1, *latents.shape[2:]) for k in keeps]).to(device, dtype)
            if masked
            else None
        )

        cfg = group.items[0].request.uses_cfg  # the same for the whole group (part of its key)
        conds = [item.conditioning.cond for item in group.items]
        uncond_embeddings = [item.conditioning.uncond for item in group.items] if cfg else []
        embeddings = torch.cat(uncond_embeddings + conds)
        guidance = torch.tensor(
            [item.request.guidance for item in group.items], device=device, dtype=dtype
        ).view(-1, 1, 1, 1)

        for i, t in enumerate(timesteps):
            if self.interrupt:
                break
            doubled = torch.cat([latents, latents]) if cfg else latents
            model_input = scheduler.scale_model_input(doubled, t)
            noise_pred = self.unet(model_input, t, encoder_hidden_states=embeddings).sample
            if cfg:
                uncond, cond = noise_pred.chunk(2)
                noise_pred = uncond + guidance * (cond - uncond)
            latents = scheduler.step(noise_pred, t, latents).prev_sample
            if keep is not None:
                # Keep the original where the mask is black, re-noised to the next step's level.
                if i + 1 < len(timesteps):
                    next_t = timesteps[i + 1 : i + 2].repeat(len(group.items))
                    proper = scheduler.add_noise(original, noise, next_t)
                else:
                    proper = original
                latents = keep * proper + (1 - keep) * latents
            latents, embeddings = step(t, latents=latents, prompt_embeds=embeddings)
            progress_bar.update()
        return latents

    def _decode(self, latents: torch.Tensor) -> list[Image.Image]:
        """Latents -> RGB spectrogram images, one VAE pass per item (identical in any batch)."""
        images = []
        for row in latents.split(1):
            pixels = self.vae.decode(row / self.vae.config.scaling_factor).sample
            images.append(_tensor_to_image(pixels[0]))
        return images


class _StepHook:
    """Calls the step-end callback with the tensors it asked for and takes back its changes;
    counts steps over every batch of a call."""

    def __init__(
        self,
        pipe: RiffusionPipeline,
        callback: StepEndCallback | None,
        tensor_inputs: tuple[str, ...],
    ) -> None:
        self.pipe, self.callback, self.tensor_inputs = pipe, callback, tensor_inputs
        self.index = 0

    def __call__(
        self, timestep: Any, *, latents: torch.Tensor, prompt_embeds: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.callback is not None:
            tensors = {"latents": latents, "prompt_embeds": prompt_embeds}
            kwargs = {name: tensors[name] for name in self.tensor_inputs}
            outputs = self.callback(self.pipe, self.index, timestep, kwargs)
            latents = outputs.pop("latents", latents)
            prompt_embeds = outputs.pop("prompt_embeds", prompt_embeds)
        self.index += 1
        return latents, prompt_embeds


def _image_to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1)[None]


def _tensor_to_image(pixels: torch.Tensor) -> Image.Image:
    """VAE output (3, H, W) in [-1, 1] -> mono spectrogram image of the model's parameters.

    The converter reads mono images from the red channel (as the reference did), so the red
    channel is the spectrogram; the image module makes it a well-formed mono PNG.
    """
    array = ((pixels.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return mono_spectrogram_image(array[0].cpu().numpy(), SpectrogramParams())


def _name_of(scheduler: Any) -> str:
    for name, (cls, overrides) in SCHEDULERS.items():
        if type(scheduler) is cls and all(
            scheduler.config.get(k) == v for k, v in overrides.items() if k == "algorithm_type"
        ):
            return name
    return type(scheduler).__name__
