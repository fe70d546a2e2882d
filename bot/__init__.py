"""opshand Slack bot."""
