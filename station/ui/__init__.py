"""The kiosk's controllers: every piece of the touchscreen's logic, in plain Python.

The Kivy app (:mod:`station.kiosk`) only draws what these controllers hold and forwards touches
to them; they never import Kivy, so they are tested without a display, and the same engine and
protocols run a trial here as in ``station assess`` (:class:`station.assess.BatteryRun`).

* :class:`~station.ui.app.AppController`: rig, store, configuration, clinician login and the idle
  lock (on an injected clock), and turning any exception into a :class:`~station.ui.errors.Message`.
* :class:`~station.ui.auth.ClinicianAuth`: the clinician PIN, hashed with scrypt in
  ``<data_dir>/kiosk.json``.
* :class:`~station.ui.participants.ParticipantController`: find and create participants.
* :class:`~station.ui.run.RunController`: a battery trial by trial in a worker thread, with a
  thread-safe :class:`~station.ui.run.RunSnapshot` for the screen.
* :class:`~station.ui.results.ResultsController`: each metric beside norm, baseline and change.
* :class:`~station.ui.virtual.VirtualHardwareController`: on-screen buttons, pegs and pads on the
  simulated backend.
* :class:`~station.ui.demo.DemoDriver`: ``station kiosk --demo``, the virtual participant alone.
"""
