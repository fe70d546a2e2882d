"""Bolt listeners, one idea per module: middleware, unfurling off, conversations, consent,
incidents, commands and the Home tab. ``bot.app.build_app`` registers them in order."""

from __future__ import annotations

__all__: list[str] = []  # bot.app imports each listener module by name
