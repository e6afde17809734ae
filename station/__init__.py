"""Dexterity Station core: timing, recordings, protocols, scoring and storage.

The core imports neither kivy nor flask; ``station.kiosk`` and ``web`` build on it.
"""

__version__ = "0.1.0"
