"""A queued job's work as JSON (the jobs.task column) and back, so a restart can resume it.

Every RenderTask kind the bot queues is described here: a riff or reroll needs only its
parameters; a Variation or an Extend names its source files relative to DATA_DIR; a blend
its second prompt; a remix the input audio, which is saved as DATA_DIR/jobs/<job id>.wav (never
under the uploader's file name) and removed when the job ends. Rebuilding raises
JobNotRebuildable, with a line for the owner, when something it needs is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.engine.song_task import SongTask
from bot.engine.tasks import BlendClipTask, BlendTask, ExtendSource, RemixTask, RenderTask
from bot.params import RiffParams
from bot.store.files import Storage
from bot.store.models import Generation
from riffusion_core.audio import encode_wav
from riffusion_core.audio_decode import decode_audio
from riffusion_core.errors import RiffusionError
from riffusion_core.songs import SongSpec


class JobNotRebuildable(RiffusionError):
    """Something a queued job needs is gone; the message says what, for its owner."""


@dataclass(frozen=True)
class JobSpec:
    """What a job row holds besides its parameters, to run it again after a restart."""

    task: dict[str, Any]
    extra: dict[str, Any]
    filesize_limit: int
    status_ephemeral: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            **self.task,
            "extra": self.extra,
            "filesize_limit": self.filesize_limit,
            "status_ephemeral": self.status_ephemeral,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None, *, default_limit: int) -> JobSpec:
        data = dict(data or {})
        extra = dict(data.pop("extra", None) or {})
        limit = int(data.pop("filesize_limit", None) or default_limit)
        ephemeral = bool(data.pop("status_ephemeral", False))
        return cls(task=data, extra=extra, filesize_limit=limit, status_ephemeral=ephemeral)


def describe(task: RenderTask, files: Storage) -> dict[str, Any]:
    """The kind-specific part of `task` as JSON (a remix's audio is saved separately; a song's
    finished clips are in its job's folder, which follows from the job's id)."""
    if isinstance(task, SongTask):
        return {"type": "song", "song": task.spec.to_json()}
    if isinstance(task, RemixTask):
        return {
            "type": "remix",
            "source_duration_s": task.source_duration_s,
            "max_input_s": task.max_input_s,
        }
    if isinstance(task, BlendClipTask):
        return {
            "type": "blend-clip",
            "end_prompt": task.end_prompt,
            "end_seed": task.end_seed,
            "alpha": task.alpha,
        }
    if isinstance(task, BlendTask):
        return {
            "type": "blend",
            "end_prompt": task.end_prompt,
            "end_seed": task.end_seed,
            "clips": task.clips,
        }
    spec: dict[str, Any] = {"type": "clip"}
    if task.init_image is not None:
        spec["init_image"] = files.relative_to_data(task.init_image)
    if task.extend is not None:
        spec["extend"] = {
            "master": files.relative_to_data(task.extend.master_path),
            "image": files.relative_to_data(task.extend.image_path),
            "clips": task.extend.clips,
        }
    return spec


def input_files(task: dict[str, Any]) -> list[str]:
    """The files under DATA_DIR a job's work reads (relative paths, as the spec names them):
    what travels with it to a GPU worker on another machine."""
    names = [task.get("audio"), task.get("init_image")]
    extend = task.get("extend")
    if isinstance(extend, dict):
        names += [extend.get("master"), extend.get("image")]
    return [name for name in names if isinstance(name, str) and name]


def save_remix_audio(task: RenderTask, job_id: int, files: Storage) -> str | None:
    """Keep a remix's input as DATA_DIR/jobs/<job id>.wav; returns its relative path."""
    if not isinstance(task, RemixTask) or task.audio is None:
        return None
    return files.save_job_audio(job_id, encode_wav(task.audio))


def rebuild(
    kind: str,
    params: RiffParams,
    spec: JobSpec,
    storage: Storage,
    parent: Generation | None,
) -> RenderTask:
    """The RenderTask of a stored job; blocking (a remix decodes its saved input)."""
    task = spec.task
    kind_of_task = task.get("type") or _legacy_type(kind)
    if kind_of_task == "song":
        return SongTask(params=params, song=SongSpec.from_json(task["song"]))
    if kind_of_task == "remix":
        path = storage.existing(task.get("audio"), any_folder=True)
        if path is None:
            raise JobNotRebuildable("the audio you uploaded was not kept; please send it again.")
        audio = decode_audio(path).segment
        return RemixTask(
            params=params,
            audio=audio,
            source_duration_s=task.get("source_duration_s"),
            max_input_s=float(task.get("max_input_s") or len(audio) / 1000),
        )
    if kind_of_task in ("blend", "blend-clip") and "end_prompt" not in task:
        kind_of_task = "unknown"  # a blend row from before jobs.task: its end is not known
    if kind_of_task == "blend-clip":
        return BlendClipTask(
            params=params,
            end_prompt=str(task["end_prompt"]),
            end_seed=int(task["end_seed"]),
            alpha=float(task["alpha"]),
        )
    if kind_of_task == "blend":
        return BlendTask(
            params=params,
            end_prompt=str(task["end_prompt"]),
            end_seed=int(task["end_seed"]),
            clips=int(task["clips"]),
        )
    if kind_of_task != "clip":
        raise JobNotRebuildable(
            "the bot cannot redo this kind of request after a restart; please send it again."
        )
    init_image = extend = None
    if "init_image" in task or (not task and kind == "variation"):
        relative = task.get("init_image") or (parent.image_file if parent else None)
        init_image = storage.existing(relative)
        if init_image is None:
            raise JobNotRebuildable(_files_gone(parent))
    if "extend" in task or (not task and kind == "extend"):
        source = task.get("extend") or _extend_of(parent)
        master = storage.existing(source.get("master"))
        image = storage.existing(source.get("image"))
        if master is None or image is None:
            raise JobNotRebuildable(_files_gone(parent))
        extend = ExtendSource(
            master_path=master, image_path=image, clips=int(source.get("clips", 1))
        )
    return RenderTask(params=params, init_image=init_image, extend=extend)


def _legacy_type(kind: str) -> str:
    """Rows written before jobs.task existed: riffs, rerolls, variations and extends only."""
    return "clip" if kind in ("riff", "reroll", "variation", "extend") else kind


def _extend_of(parent: Generation | None) -> dict[str, Any]:
    if parent is None:
        return {}
    return {
        "master": parent.extra.get("master"),
        "image": parent.image_file,
        "clips": parent.extra.get("clips", 1),
    }


def _files_gone(parent: Generation | None) -> str:
    which = f"result #{parent.id}" if parent is not None else "the result it started from"
    return f"the files of {which} were cleaned up, so it cannot be used for that any more."
