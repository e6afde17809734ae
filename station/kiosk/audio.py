"""The screen's sound cues: the buzzer's beeps and clicks, played through the display's speaker.

When a cue on the station's buzzer has sounded (its onset is in the run snapshot's
:attr:`~station.ui.run.LiveValues.sounds`, taken from the trial's cue schedule,
:mod:`station.cues`), :class:`CuePlayer` plays a tone of the same length: the go beep, the stop
beep and each metronome click. The tones are synthesised with numpy (a sine at
:data:`TONE_HZ` with 3 ms fades, 16-bit mono WAV) into a cache folder once, and played with Kivy's
``SoundLoader``. Cue LEDs (reaction-time stimuli, a finger's go light) make no sound: a sound
would turn a visual reaction task into an audiovisual one.

Latency caveat: this sound is **feedback only**. It starts when the screen's next refresh sees
the onset (up to a refresh period, 1/60 s, after the snapshot that carries it, itself published
at most 1/60 s after the onset), plus the audio system's own output delay (tens of ms with SDL2's
default buffers; not measured here). Nothing is timed from it: every analysis uses the hardware
buzzer's recorded onsets (``actual_on_ns``, or the loopback edge). On a real station the buzzer
sounds at the right time and this sound follows it, so the setting is off there by default
(:mod:`station.ui.settings`).

Without an audio device (Xvfb, CI, a Pi without a speaker) one warning line is logged and the
sounds stay off; nothing else changes. Where no sound card or sound server exists at all
(:func:`missing_audio_output`) SDL is not even asked (it would print ALSA's errors).
"""

from __future__ import annotations

import logging
import os
import wave
from pathlib import Path
from typing import Any, Final

import numpy as np

from station.ui.run import LiveValues

log = logging.getLogger("station.kiosk.audio")

#: The pitch of the screen's tones, Hz. An active buzzer sounds at its own fixed pitch (a few kHz
#: for the common 12 mm parts); this is a comfortable stand-in, not the buzzer's measured pitch.
TONE_HZ: Final = 2000.0
SAMPLE_RATE_HZ: Final = 44_100
FADE_S: Final = 0.003
AMPLITUDE: Final = 0.5
#: A cue older than this when the screen first sees it is not played (the screen was away, e.g.
#: showing a message): a late burst of clicks would be wrong feedback.
MAX_AGE_S: Final = 0.25


def tone_samples(duration_s: float, *, freq_hz: float = TONE_HZ) -> np.ndarray:
    """A sine tone as 16-bit samples, with linear fades in and out (no clicks at its ends)."""
    n = max(1, round(duration_s * SAMPLE_RATE_HZ))
    t = np.arange(n) / SAMPLE_RATE_HZ
    x = np.sin(2 * np.pi * freq_hz * t)
    fade = min(round(FADE_S * SAMPLE_RATE_HZ), n // 2)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
        x[:fade] *= ramp
        x[n - fade :] *= ramp[::-1]
    return np.round(x * AMPLITUDE * 32767).astype("<i2")


def write_tone(path: Path, duration_s: float, *, freq_hz: float = TONE_HZ) -> Path:
    """Write a tone as a mono 16-bit WAV file (atomically: a temporary name, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE_HZ)
        out.writeframes(tone_samples(duration_s, freq_hz=freq_hz).tobytes())
    tmp.replace(path)
    return path


def missing_audio_output() -> str:
    """Why there is surely no audio output here ("" when there may be one): no sound card
    (``/dev/snd``), no PulseAudio or PipeWire server, and no SDL audio driver named. Asked before
    SDL opens its mixer, so a headless machine gets one warning line instead of ALSA's noise."""
    if os.environ.get("SDL_AUDIODRIVER"):
        return ""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and any((Path(runtime) / n).exists() for n in ("pulse/native", "pipewire-0")):
        return ""
    if any(Path("/dev/snd").glob("pcmC*D*p")):
        return ""
    return "no sound card (/dev/snd) and no sound server"


def _default_loader(path: str) -> Any:
    from kivy.core.audio import SoundLoader

    return SoundLoader.load(path)


class CuePlayer:
    """Plays each buzzer cue of the running trial once (see the module docstring).

    :param folder: where the tones are kept (made once, reused).
    :param loader: loads a sound file (Kivy's ``SoundLoader.load``; tests pass their own).
    """

    def __init__(self, folder: Path, *, loader: Any = None):
        self.folder = Path(folder)
        self.loader = loader or _default_loader
        self._probe = loader is None  # Kivy's loader: look for an output before asking SDL
        self.enabled = True
        #: No audio device: the first sound could not be loaded (logged once); stays off.
        self.unavailable = False
        self.played = 0
        self._sounds: dict[int, Any] = {}
        self._trial = -1
        self._done: set[int] = set()

    def sound_for(self, duration_s: float) -> Any:
        """The loaded sound of a tone this long (whole ms), or None without an audio device."""
        ms = max(1, round(duration_s * 1000))
        if ms in self._sounds:
            return self._sounds[ms]
        if self.unavailable:
            return None
        if self._probe:
            self._probe = False
            why = missing_audio_output()
            if why:
                self.unavailable = True
                log.warning(
                    "no audio output (%s): the screen's sound cues are off; the station's "
                    "buzzer is not affected",
                    why,
                )
                return None
        path = self.folder / f"tone-{int(TONE_HZ)}hz-{ms}ms.wav"
        try:
            if not path.exists():
                write_tone(path, ms / 1000)
            sound = self.loader(str(path))
        except Exception as exc:  # any failure of the audio system: silence, never a crash
            sound = None
            log.debug("loading %s failed: %s", path, exc)
        if sound is None or not getattr(sound, "length", 0):
            self.unavailable = True
            log.warning(
                "no audio output (%s could not be played): the screen's sound cues are off; "
                "the station's buzzer is not affected",
                path.name,
            )
            return None
        self._sounds[ms] = sound
        return sound

    def update(self, trial_serial: int, live: LiveValues) -> int:
        """Play the cues of ``live`` not played yet (each once per trial); returns how many."""
        if trial_serial != self._trial:
            self._trial = trial_serial
            self._done = set()
        started = 0
        for cue in live.sounds:
            if cue.index in self._done:
                continue
            self._done.add(cue.index)
            if not self.enabled or self.unavailable or live.t_s - cue.onset_s > MAX_AGE_S:
                continue
            sound = self.sound_for(cue.duration_s)
            if sound is None:
                continue
            try:
                sound.stop()
                sound.play()
            except Exception as exc:
                log.warning("a sound cue could not be played (%s); sound cues are off", exc)
                self.unavailable = True
                continue
            started += 1
            self.played += 1
        return started
