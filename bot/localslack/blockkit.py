"""Block Kit checks the Web API applies before accepting blocks or a view.

Slack answers ``invalid_blocks`` (messages) or ``invalid_arguments`` (views) with
``response_metadata.messages`` such as ``[ERROR] must be less than 151 characters
[json-pointer:/blocks/0/text/text]``. We check the limits that bite real apps: counts, lengths,
text object types, button styles, unique ids. It is not a full schema.
"""

from __future__ import annotations

import copy
import secrets
import string
from collections.abc import Mapping
from typing import Any

MESSAGE_BLOCK_LIMIT = 50
"""Most blocks a message may carry."""
VIEW_BLOCK_LIMIT = 100
"""Most blocks a modal or Home tab may carry."""

_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
_INTERACTIVE = frozenset(
    {
        "button",
        "checkboxes",
        "datepicker",
        "overflow",
        "radio_buttons",
        "static_select",
        "multi_static_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "timepicker",
    }
)
_INPUTS = _INTERACTIVE | {"plain_text_input", "email_text_input", "url_text_input", "number_input"}


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, message: str, pointer: str) -> None:
        self.errors.append(f"[ERROR] {message} [json-pointer:{pointer}]")

    def text(self, obj: Any, pointer: str, *, max_len: int, plain_only: bool = False) -> None:
        if not isinstance(obj, Mapping):
            self.fail("must be a text object", pointer)
            return
        kind = obj.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            self.fail(f"must be one of {', '.join(allowed)}", f"{pointer}/type")
        value = obj.get("text")
        if not isinstance(value, str) or not value:
            self.fail("must be a non-empty string", f"{pointer}/text")
        elif len(value) > max_len:
            self.fail(f"must be less than {max_len + 1} characters", f"{pointer}/text")

    def element(self, el: Any, pointer: str, action_ids: set[str]) -> None:
        if not isinstance(el, Mapping):
            self.fail("must be an object", pointer)
            return
        kind = el.get("type")
        if kind not in _INPUTS:
            self.fail(f"unsupported type: {kind}", f"{pointer}/type")
            return
        action_id = el.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or len(action_id) > 255:
                self.fail("must be a string of at most 255 characters", f"{pointer}/action_id")
            elif action_id in action_ids:
                self.fail(f"action_id {action_id} is already used", f"{pointer}/action_id")
            else:
                action_ids.add(action_id)
        if kind == "button":
            self.text(el.get("text"), f"{pointer}/text", max_len=75, plain_only=True)
            if "style" in el and el["style"] not in ("primary", "danger"):
                self.fail("must be one of primary, danger", f"{pointer}/style")
            value = el.get("value")
            if value is not None and (not isinstance(value, str) or len(value) > 2000):
                self.fail("must be a string of at most 2000 characters", f"{pointer}/value")

    def block(self, block: Any, pointer: str, block_ids: set[str], action_ids: set[str]) -> None:
        if not isinstance(block, Mapping):
            self.fail("must be an object", pointer)
            return
        kind = block.get("type")
        if kind not in _BLOCK_TYPES:
            self.fail(f"unsupported type: {kind}", f"{pointer}/type")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > 255:
                self.fail("must be a string of at most 255 characters", f"{pointer}/block_id")
            elif block_id in block_ids:
                self.fail(f"block_id {block_id} is already used", f"{pointer}/block_id")
            else:
                block_ids.add(block_id)
        if kind == "header":
            self.text(block.get("text"), f"{pointer}/text", max_len=150, plain_only=True)
        elif kind == "section":
            self._section(block, pointer, action_ids)
        elif kind in ("context", "actions"):
            limit = 10 if kind == "context" else 25
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                self.fail("must provide a non-empty array", f"{pointer}/elements")
                return
            if len(elements) > limit:
                self.fail(f"no more than {limit} items allowed", f"{pointer}/elements")
            for i, el in enumerate(elements):
                at = f"{pointer}/elements/{i}"
                if kind == "context":
                    if isinstance(el, Mapping) and el.get("type") != "image":
                        self.text(el, at, max_len=3000)
                else:
                    self.element(el, at, action_ids)
        elif kind == "input":
            self.text(block.get("label"), f"{pointer}/label", max_len=2000, plain_only=True)
            self.element(block.get("element"), f"{pointer}/element", action_ids)

    def _section(self, block: Mapping[str, Any], pointer: str, action_ids: set[str]) -> None:
        if "text" not in block and "fields" not in block:
            self.fail("must provide either text or fields", pointer)
        if "text" in block:
            self.text(block["text"], f"{pointer}/text", max_len=3000)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > 10:
                self.fail("no more than 10 items allowed", f"{pointer}/fields")
            else:
                for i, f in enumerate(fields):
                    self.text(f, f"{pointer}/fields/{i}", max_len=2000)
        if "accessory" in block:
            accessory = block["accessory"]
            if not (isinstance(accessory, Mapping) and accessory.get("type") == "image"):
                self.element(accessory, f"{pointer}/accessory", action_ids)


def check_blocks(blocks: Any, *, limit: int, pointer: str = "/blocks") -> list[str]:
    """Return Slack-style error lines for ``blocks`` (empty when they are acceptable)."""
    checker = _Checker()
    if not isinstance(blocks, list):
        checker.fail("must be an array", pointer)
        return checker.errors
    if len(blocks) > limit:
        checker.fail(f"no more than {limit} items allowed", pointer)
        return checker.errors
    block_ids: set[str] = set()
    action_ids: set[str] = set()
    for i, block in enumerate(blocks):
        checker.block(block, f"{pointer}/{i}", block_ids, action_ids)
    return checker.errors


def check_view(view: Any) -> list[str]:
    """Return Slack-style error lines for a modal or Home tab view."""
    checker = _Checker()
    if not isinstance(view, Mapping):
        checker.fail("must be an object", "/view")
        return checker.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.fail("must be one of modal, home", "/view/type")
        return checker.errors
    if kind == "modal":
        checker.text(view.get("title"), "/view/title", max_len=24, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                checker.text(view[key], f"/view/{key}", max_len=24, plain_only=True)
        blocks = view.get("blocks")
        has_input = isinstance(blocks, list) and any(
            isinstance(b, Mapping) and b.get("type") == "input" for b in blocks
        )
        if has_input and "submit" not in view:
            checker.fail("must provide submit when the view has input blocks", "/view/submit")
    for key, limit in (("callback_id", 255), ("private_metadata", 3000), ("external_id", 255)):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            checker.fail(f"must be a string of at most {limit} characters", f"/view/{key}")
    checker.errors.extend(
        check_blocks(view.get("blocks"), limit=VIEW_BLOCK_LIMIT, pointer="/view/blocks")
    )
    return checker.errors


def _short_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(5))


def assign_ids(blocks: list[Any]) -> list[Any]:
    """Copy ``blocks``, filling missing ``block_id`` and ``action_id`` values as Slack does."""
    filled = copy.deepcopy(blocks)
    for block in filled:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", _short_id())
        children = list(block.get("elements", [])) if block.get("type") == "actions" else []
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                children.append(block[key])
        for el in children:
            if isinstance(el, dict) and el.get("type") in _INPUTS:
                el.setdefault("action_id", _short_id())
    return filled
