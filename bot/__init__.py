"""opshand Slack bot: settings, bootstrap, the Bolt app and its listeners, ingress, the CLI.

The faces are the sub-packages and modules themselves (``bot.app``, ``bot.bootstrap``,
``bot.settings``, ``bot.cli`` ...); this root re-exports nothing, so the CLI starts without
loading Slack.
"""

__all__: list[str] = []
