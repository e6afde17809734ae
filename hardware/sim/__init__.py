"""Faithful simulators of the station's hardware."""
