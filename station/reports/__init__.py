"""Reports and exports of the store for people and other systems, without Flask.

- :mod:`station.reports.fhir`: FHIR R4B collection Bundles (Patient, Device, Observations).
- :mod:`station.reports.pdf`: PDF reports of a session and of a participant's progress.
- CSV and JSON exports are :mod:`station.store.export` (the same selection of data).

:func:`load_report_data` reads what a report covers; both report kinds start from it.
"""

from station.reports.common import ReportData, ReportError, load_report_data

__all__ = ["ReportData", "ReportError", "load_report_data"]
