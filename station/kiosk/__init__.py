"""The touchscreen kiosk (Kivy): ``station kiosk``.

The only part of the station that imports Kivy. Its screens (one ``.kv`` file each in ``kv/``)
draw what the controllers of :mod:`station.ui` hold; all logic lives there. Start it through
:func:`station.kiosk.main.run_kiosk`, which sets Kivy's environment before Kivy is imported.
"""
