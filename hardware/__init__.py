"""Device layer: GPIO pins and ADS1x15 force pads, real (Raspberry Pi) or simulated.

Imports neither ``station`` nor ``web``.
"""
