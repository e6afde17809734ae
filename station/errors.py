"""Errors the station reports to people. All derive from :class:`StationError`."""

from __future__ import annotations

from hardware.errors import BackendUnavailableError, HardwareError, StationError

__all__ = ["BackendUnavailableError", "ConfigError", "HardwareError", "StationError", "UsageError"]


class ConfigError(StationError):
    """A configuration file is missing, unreadable or invalid; the message names file and key."""


class UsageError(StationError):
    """A command-line argument is invalid."""
