"""The one exception base of the project.

``StationError`` lives in the lowest layer (``hardware``) so that every layer can raise and
catch it without importing upwards; ``station.errors`` re-exports it.
"""

from __future__ import annotations


class StationError(Exception):
    """Base of every error the station reports to a person (never shown as a traceback)."""


class HardwareError(StationError):
    """A device is missing, silent, stuck or failing."""


class BackendUnavailableError(HardwareError):
    """The requested hardware backend cannot be used on this machine."""
