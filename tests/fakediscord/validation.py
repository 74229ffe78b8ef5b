"""Discord's error bodies and the limits the fake enforces, so tests catch what Discord rejects.

Error bodies follow Discord's shape (``{"code", "message", "errors"}``) because discord.py turns
``code`` into ``HTTPException.code`` and bots branch on it (50013, 40060, 10062...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import MessageFlag

SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
MiB = 1024 * 1024


class APIError(Exception):
    """An error answer: HTTP status plus Discord's JSON error code and message."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            data["errors"] = self.errors
        return data


def form_error(path: list[str | int], code: str, message: str) -> APIError:
    """A 400 "Invalid Form Body" (50035) pointing at one field, like Discord's."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        errors = {str(key): errors}
    return APIError(400, 50035, "Invalid Form Body", errors)


def unknown_message() -> APIError:
    return APIError(404, 10008, "Unknown Message")


def unknown_channel() -> APIError:
    return APIError(404, 10003, "Unknown Channel")


def unknown_interaction() -> APIError:
    return APIError(404, 10062, "Unknown interaction")


def missing_permissions() -> APIError:
    return APIError(403, 50013, "Missing Permissions")


def invalid_webhook_token() -> APIError:
    return APIError(401, 50027, "Invalid Webhook Token")


@dataclass
class Limits:
    """Limits as Discord applies them to a bot without boosts (all configurable per test)."""

    content_length: int = 2000
    files_per_message: int = 10
    upload_limit: int = 10 * MiB
    request_limit: int = 25 * MiB
    embeds_per_message: int = 10
    embed_total_chars: int = 6000
    rows_per_message: int = 5
    components_per_row: int = 5
    v2_components_total: int = 40
    autocomplete_choices: int = 25


@dataclass
class Upload:
    """A file part of a multipart request (``files[n]``)."""

    index: int
    filename: str
    data: bytes
    content_type: str | None


def check_files(uploads: list[Upload], limits: Limits) -> None:
    if len(uploads) > limits.files_per_message:
        raise form_error(
            ["files"],
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {limits.files_per_message} or fewer in length.",
        )
    too_big = any(len(u.data) > limits.upload_limit for u in uploads)
    if too_big or sum(len(u.data) for u in uploads) > limits.request_limit:
        raise APIError(413, 40005, "Request entity too large")


def check_message(
    payload: dict[str, Any], uploads: list[Upload], limits: Limits, *, creating: bool
) -> None:
    """Validates a message create/edit body (also used for interaction responses)."""
    content = payload.get("content")
    if content is not None and len(str(content)) > limits.content_length:
        raise form_error(
            ["content"],
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {limits.content_length} or fewer in length.",
        )
    embeds = payload.get("embeds") or []
    if len(embeds) > limits.embeds_per_message:
        raise form_error(
            ["embeds"],
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {limits.embeds_per_message} or fewer in length.",
        )
    if sum(_embed_chars(e) for e in embeds) > limits.embed_total_chars:
        raise form_error(
            ["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )
    check_files(uploads, limits)
    components = payload.get("components") or []
    if int(payload.get("flags") or 0) & MessageFlag.COMPONENTS_V2:
        check_v2_components(components, limits)
    else:
        check_action_rows(components, limits, path=["components"])
    if creating and not (
        content
        or embeds
        or uploads
        or components
        or payload.get("sticker_ids")
        or payload.get("poll")
    ):
        raise APIError(400, 50006, "Cannot send an empty message")


def check_action_rows(rows: list[dict[str, Any]], limits: Limits, *, path: list[str | int]) -> None:
    """Classic components: up to 5 action rows of up to 5 buttons, or one select per row."""
    if len(rows) > limits.rows_per_message:
        raise form_error(
            path, "BASE_TYPE_MAX_LENGTH", f"Must be {limits.rows_per_message} or fewer in length."
        )
    seen: set[str] = set()
    for r, row in enumerate(rows):
        if row.get("type") != 1:
            raise form_error(
                [*path, r, "type"],
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1,).',
            )
        items = row.get("components") or []
        if not 1 <= len(items) <= limits.components_per_row:
            raise form_error(
                [*path, r, "components"],
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {limits.components_per_row} in length.",
            )
        if any(i.get("type") in SELECT_TYPES for i in items) and len(items) > 1:
            raise form_error(
                [*path, r, "components"],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for c, item in enumerate(items):
            _check_item(item, seen, [*path, r, "components", c])


def check_v2_components(components: list[dict[str, Any]], limits: Limits) -> None:
    """Components v2 layouts: check custom_ids and the overall component count."""
    seen: set[str] = set()
    count = 0

    def walk(items: list[dict[str, Any]], path: list[str | int]) -> None:
        nonlocal count
        for i, item in enumerate(items):
            count += 1
            _check_item(item, seen, [*path, i], require_id=False)
            for key in ("components", "items"):
                if isinstance(item.get(key), list):
                    walk(item[key], [*path, i, key])
            for key in ("accessory", "component"):
                if isinstance(item.get(key), dict):
                    walk([item[key]], [*path, i, key])

    walk(components, ["components"])
    if count > limits.v2_components_total:
        raise form_error(
            ["components"],
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {limits.v2_components_total} or fewer in total.",
        )


def _check_item(
    item: dict[str, Any], seen: set[str], path: list[str | int], *, require_id: bool = True
) -> None:
    kind = item.get("type")
    is_link = kind == 2 and item.get("style") in (5, 6)
    custom_id = item.get("custom_id")
    needs_id = kind in (2, 3, 4, 5, 6, 7, 8, 19) and not is_link
    if custom_id is None:
        if needs_id and require_id:
            raise form_error([*path, "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
        return
    if not 1 <= len(custom_id) <= 100:
        raise form_error(
            [*path, "custom_id"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    if custom_id in seen:
        raise form_error(
            [*path, "custom_id"],
            "COMPONENT_CUSTOM_ID_DUPLICATED",
            "Component custom id cannot be duplicated",
        )
    seen.add(custom_id)


def check_modal(data: dict[str, Any], limits: Limits) -> None:
    """A modal needs a custom_id, a title (max 45) and 1-5 top-level components."""
    custom_id = data.get("custom_id") or ""
    if not 1 <= len(custom_id) <= 100:
        raise form_error(
            ["data", "custom_id"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    title = data.get("title") or ""
    if not 1 <= len(title) <= 45:
        raise form_error(
            ["data", "title"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length."
        )
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        raise form_error(
            ["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
        )
    seen: set[str] = set()
    for i, comp in enumerate(components):
        inner = comp.get("components") or ([comp["component"]] if "component" in comp else [])
        for j, item in enumerate(inner):
            _check_item(item, seen, ["data", "components", i, "components", j])


def _embed_chars(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for f in embed.get("fields") or []:
        total += len(f.get("name") or "") + len(f.get("value") or "")
    return total
