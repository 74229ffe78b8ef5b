"""Bot settings, read once at start from the environment and `.env`.

Every problem is reported as one line a server owner can act on, so `python -m bot` can print
the list and exit instead of failing later with a traceback. The token is kept out of `repr()`
so it cannot leak through logs or error reports.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload
from urllib.parse import urlsplit

from dotenv import dotenv_values

DEFAULT_MODEL = "riffusion/riffusion-model-v1"
PORTAL_URL = "https://discord.com/developers/applications"

MISSING_TOKEN_MESSAGE = (
    "DISCORD_TOKEN is not set: create an application at "
    f"{PORTAL_URL}, open Bot -> Reset Token, and put the token in .env as DISCORD_TOKEN=..."
    " (`make run` creates .env from .env.example; README.md walks through the set-up)."
)


class SettingsError(Exception):
    """The settings are unusable; `problems` holds one user-facing line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment (see .env.example)."""

    discord_token: str = field(repr=False)
    riffusion_model: str = DEFAULT_MODEL
    riffusion_device: str = "auto"
    data_dir: Path = Path("data")
    database_url: str | None = None
    guild_id: int | None = None
    api_base: str | None = None
    gateway_url: str | None = None
    sync_commands: bool = False
    max_jobs_per_user: int = 3
    max_queue_size: int = 100
    max_batch_size: int = 4
    job_timeout_s: float = 600.0
    shutdown_grace_s: float = 60.0
    progress_interval_s: float = 3.0
    default_steps: int = 50
    max_steps: int = 100
    max_duration_s: float = 30.0
    log_level: str = "INFO"
    # Server administration and voice (issue 6): bot-wide defaults, /admin refines per guild.
    max_jobs_per_day: int = 0  # per user per UTC day; 0 = no daily limit
    voice_idle_s: float = 120.0
    radio_buffer_clips: int = 3
    max_upload_mb: float = 25.0  # remix uploads: refused before download when larger
    max_remix_input_s: float = 60.0  # longer uploads: the first part is remixed
    decode_timeout_s: float = 20.0  # reading one upload may take at most this long
    # Keeping things (issue 5): results' files are pruned after this many days unless someone
    # favourited them; 0 keeps them forever. The rows (parameters) are always kept.
    retention_days: int = 30
    delivery_retry_s: float = 24 * 3600.0  # how long a rendered result waits for Discord
    # Seed images (issue 12): a folder of spectrogram PNGs offered beside the bundled loops.
    seed_images_dir: Path | None = None
    # Loudness of every posted or played result (issue 12): the reference's -12 dBFS RMS, with a
    # limiter holding true peaks at -1 dBTP.
    target_rms_dbfs: float = -12.0
    max_song_s: float = 240.0  # /song: the longest song (30-240 s)
    # The web side (issue 15): Riffusion's inference API, result pages, health and metrics.
    web_host: str = "127.0.0.1"
    web_port: int | None = 8080  # None: no web server
    web_public_url: str | None = None  # the address people reach (links); default from host
    web_api_keys: tuple[tuple[str, int], ...] = field(default=(), repr=False)  # key -> guild
    # Scale-out (issue 14): where jobs are queued. "local": the in-process worker thread (the
    # model loads in the bot); "postgres": the jobs table in a PostgreSQL DATABASE_URL is the
    # queue, and GPU workers (`python -m bot.worker`) on any machine claim from it.
    generation_queue: str = "local"
    lease_s: float = 30.0  # a worker that stops renewing its claim this long loses its job
    poll_interval_s: float = 2.0  # workers and bots poll this often when LISTEN is quiet
    worker_max_attempts: int = 3  # a job that kept killing workers fails after this many runs
    # Discord sharding: None runs one plain client; 0 asks Discord for the count ("auto").
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None  # this process's shards (several processes)

    @property
    def shared_queue(self) -> bool:
        """Jobs go through PostgreSQL to GPU workers; the bot does not load the model."""
        return self.generation_queue == "postgres"

    @property
    def effective_database_url(self) -> str:
        """DATABASE_URL, or an SQLite file in DATA_DIR when it is empty."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'riffusion.db').resolve()}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never reach a log line: the token, the database password, the
        web API keys."""
        password = urlsplit(self.database_url).password if self.database_url else None
        keys = tuple(key for key, _ in self.web_api_keys)
        return tuple(s for s in (self.discord_token, password, *keys) if s)

    @property
    def web_on_loopback(self) -> bool:
        """The web side listens on this machine only (keys are then optional for it)."""
        return self.web_host in {"127.0.0.1", "localhost", "::1"}

    @property
    def web_base_url(self) -> str | None:
        """Where people reach the web side, without a trailing slash (links in Discord, the
        pages' absolute og:image): WEB_PUBLIC_URL, else http://WEB_HOST:WEB_PORT; None when
        there is no web side (WEB_PORT empty)."""
        if self.web_port is None:
            return None
        if self.web_public_url:
            return self.web_public_url.rstrip("/")
        host = f"[{self.web_host}]" if ":" in self.web_host else self.web_host
        return f"http://{host}:{self.web_port}"


@overload
def _int(
    env: Mapping[str, str],
    name: str,
    default: int,
    problems: list[str],
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int: ...


@overload
def _int(
    env: Mapping[str, str],
    name: str,
    default: None,
    problems: list[str],
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None: ...


def _int(
    env: Mapping[str, str],
    name: str,
    default: int | None,
    problems: list[str],
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """Read a whole number; a bad or missing value falls back to the default.

    Overloaded so that an int default gives an int and only a None default can give None.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name} must be a whole number, not {raw!r}.")
        return default
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        problems.append(f"{name} must be {bounds} (got {value}).")
        return default
    return value


def _float(
    env: Mapping[str, str], name: str, default: float, problems: list[str], *, minimum: float
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name} must be a number of seconds, not {raw!r}.")
        return default
    if value < minimum:
        problems.append(f"{name} must be at least {minimum:g} (got {value:g}).")
        return default
    return value


def _decibels(
    env: Mapping[str, str],
    name: str,
    default: float,
    problems: list[str],
    *,
    low: float,
    high: float,
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name} must be a number of dB, e.g. {default:g}, not {raw!r}.")
        return default
    if not low <= value <= high:
        problems.append(f"{name} must be between {low:g} and {high:g} dB (got {value:g}).")
        return default
    return value


def _url(
    env: Mapping[str, str], name: str, schemes: tuple[str, ...], problems: list[str]
) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.startswith(schemes):
        problems.append(f"{name} must start with {' or '.join(schemes)} (got {raw!r}).")
        return None
    return raw.rstrip("/")


def _folder(env: Mapping[str, str], name: str, problems: list[str]) -> Path | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        problems.append(f"{name} must be an existing folder (got {raw!r}).")
        return None
    return path


def _token(env: Mapping[str, str], problems: list[str]) -> str:
    token = env.get("DISCORD_TOKEN", "").strip().strip('"').strip("'")
    if not token:
        problems.append(MISSING_TOKEN_MESSAGE)
    elif token.lower().startswith("bot "):
        problems.append("DISCORD_TOKEN must be the token alone, without the 'Bot ' prefix.")
    elif any(ch.isspace() for ch in token):
        problems.append(
            "DISCORD_TOKEN contains spaces: paste the token exactly as the "
            "Developer Portal shows it."
        )
    return token


def load_settings(
    environ: Mapping[str, str] | None = None,
    dotenv_path: str | Path | None = ".env",
    *,
    need_token: bool = True,
) -> Settings:
    """Read settings from `environ` (default os.environ) over the values in `dotenv_path`.

    The process environment wins over `.env`, so a deployment can override one value without
    editing the file. Raises SettingsError listing every problem at once. `need_token=False`:
    a GPU worker (bot/worker), which reads the same .env but never talks to Discord.
    """
    env: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    env.update(os.environ if environ is None else environ)

    problems: list[str] = []
    token = _token(env, problems) if need_token else ""  # a GPU worker never talks to Discord
    steps_max = _int(env, "MAX_STEPS", 100, problems, minimum=2, maximum=200)
    settings = Settings(
        discord_token=token,
        riffusion_model=env.get("RIFFUSION_MODEL", "").strip() or DEFAULT_MODEL,
        riffusion_device=env.get("RIFFUSION_DEVICE", "").strip() or "auto",
        data_dir=Path(env.get("DATA_DIR", "").strip() or "data"),
        database_url=env.get("DATABASE_URL", "").strip() or None,
        guild_id=_int(env, "DISCORD_GUILD_ID", None, problems, minimum=1),
        api_base=_url(env, "DISCORD_API_BASE", ("http://", "https://"), problems),
        gateway_url=_url(env, "DISCORD_GATEWAY_URL", ("ws://", "wss://"), problems),
        sync_commands=env.get("SYNC_COMMANDS", "").strip().lower() in {"1", "true", "yes"},
        max_jobs_per_user=_int(env, "MAX_JOBS_PER_USER", 3, problems, minimum=1),
        max_queue_size=_int(env, "MAX_QUEUE_SIZE", 100, problems, minimum=1),
        max_batch_size=_int(env, "MAX_BATCH_SIZE", 4, problems, minimum=1, maximum=64),
        job_timeout_s=_float(env, "JOB_TIMEOUT_S", 600.0, problems, minimum=1.0),
        shutdown_grace_s=_float(env, "SHUTDOWN_GRACE_S", 60.0, problems, minimum=0.0),
        progress_interval_s=_float(env, "PROGRESS_INTERVAL_S", 3.0, problems, minimum=0.2),
        default_steps=_int(
            env, "DEFAULT_STEPS", min(50, steps_max or 100), problems, minimum=2, maximum=steps_max
        ),
        max_steps=steps_max or 100,
        max_duration_s=_float(env, "MAX_DURATION_S", 30.0, problems, minimum=1.0),
        log_level=(env.get("LOG_LEVEL", "").strip() or "INFO").upper(),
        max_jobs_per_day=_int(env, "MAX_JOBS_PER_DAY", 0, problems, minimum=0),
        voice_idle_s=_float(env, "VOICE_IDLE_S", 120.0, problems, minimum=0.1),
        radio_buffer_clips=_int(env, "RADIO_BUFFER_CLIPS", 3, problems, minimum=1, maximum=10),
        max_upload_mb=_float(env, "MAX_UPLOAD_MB", 25.0, problems, minimum=0.01),
        max_remix_input_s=_float(env, "MAX_REMIX_INPUT_S", 60.0, problems, minimum=1.0),
        decode_timeout_s=_float(env, "DECODE_TIMEOUT_S", 20.0, problems, minimum=1.0),
        retention_days=_int(env, "RETENTION_DAYS", 30, problems, minimum=0, maximum=36500),
        delivery_retry_s=_float(env, "DELIVERY_RETRY_S", 86400.0, problems, minimum=0.0),
        seed_images_dir=_folder(env, "SEED_IMAGES_DIR", problems),
        target_rms_dbfs=_decibels(env, "TARGET_RMS_DBFS", -12.0, problems, low=-40.0, high=-3.0),
        max_song_s=_float(env, "MAX_SONG_S", 240.0, problems, minimum=30.0),
        web_host=env.get("WEB_HOST", "").strip() or "127.0.0.1",
        web_port=_web_port(env, problems),
        web_public_url=_url(env, "WEB_PUBLIC_URL", ("http://", "https://"), problems),
        web_api_keys=_api_keys(env, problems),
        generation_queue=(env.get("GENERATION_QUEUE", "").strip().lower() or "local"),
        lease_s=_float(env, "LEASE_S", 30.0, problems, minimum=1.0),
        poll_interval_s=_float(env, "POLL_INTERVAL_S", 2.0, problems, minimum=0.05),
        worker_max_attempts=_int(env, "WORKER_MAX_ATTEMPTS", 3, problems, minimum=1, maximum=20),
        shard_count=_shard_count(env, problems),
        shard_ids=_shard_ids(env, problems),
    )
    if settings.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        problems.append(
            f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR (got {settings.log_level!r})."
        )
    if settings.database_url and "+" not in settings.database_url.split("://", 1)[0]:
        problems.append(
            "DATABASE_URL needs an async driver, e.g. postgresql+asyncpg://... or "
            "sqlite+aiosqlite:///path.db"
        )
    _check_scale_out(settings, problems)
    if problems:
        raise SettingsError(problems)
    return settings


def _web_port(env: Mapping[str, str], problems: list[str]) -> int | None:
    """WEB_PORT: a port, or empty for no web server (unset: 8080)."""
    value = env.get("WEB_PORT")
    if value is None:
        return 8080
    raw = value.strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        problems.append(f"WEB_PORT must be a port number 1-65535, or empty for none (got {raw!r}).")
        return None
    return int(raw)


def _api_keys(env: Mapping[str, str], problems: list[str]) -> tuple[tuple[str, int], ...]:
    """WEB_API_KEYS=key:guild_id,...: each key speaks for one server (its rules apply)."""
    keys: list[tuple[str, int]] = []
    for entry in env.get("WEB_API_KEYS", "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        key, _, guild = entry.rpartition(":")
        if len(key) < 16 or not guild.isdigit():
            problems.append(
                "WEB_API_KEYS must be key:server_id pairs separated by commas, each key at "
                "least 16 characters (one entry is not)."
            )
            continue
        keys.append((key, int(guild)))
    return tuple(keys)


def _shard_count(env: Mapping[str, str], problems: list[str]) -> int | None:
    raw = env.get("SHARD_COUNT", "").strip().lower()
    if not raw:
        return None
    if raw == "auto":
        return 0
    if not raw.isdigit() or int(raw) < 1:
        problems.append(f"SHARD_COUNT must be auto or a whole number >= 1 (got {raw!r}).")
        return None
    return int(raw)


def _shard_ids(env: Mapping[str, str], problems: list[str]) -> tuple[int, ...] | None:
    raw = env.get("SHARD_IDS", "").strip()
    if not raw:
        return None
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        problems.append(f"SHARD_IDS must be shard numbers separated by commas (got {raw!r}).")
        return None
    return tuple(sorted({int(part) for part in parts}))


def _check_scale_out(settings: Settings, problems: list[str]) -> None:
    """The queue mode, the database and the shards must fit together."""
    if settings.generation_queue not in {"local", "postgres"}:
        problems.append(
            f"GENERATION_QUEUE must be local or postgres (got {settings.generation_queue!r})."
        )
    is_postgres = settings.effective_database_url.startswith("postgresql")
    if settings.shared_queue and not is_postgres:
        problems.append(
            "GENERATION_QUEUE=postgres needs a PostgreSQL DATABASE_URL "
            "(postgresql+asyncpg://user:password@host/database): workers on other machines "
            "share the queue through it."
        )
    if settings.shard_ids is not None:
        if settings.shard_count in (None, 0):
            problems.append("SHARD_IDS needs SHARD_COUNT set to the total number of shards.")
        elif max(settings.shard_ids) >= settings.shard_count:
            problems.append(
                f"SHARD_IDS must be below SHARD_COUNT ({settings.shard_count}); got "
                f"{', '.join(map(str, settings.shard_ids))}."
            )
        if not settings.shared_queue:
            problems.append(
                "SHARD_IDS (several bot processes) needs GENERATION_QUEUE=postgres: the "
                "processes share one queue and one database."
            )
