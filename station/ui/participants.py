"""Finding and creating pseudonymous participants (codes, never names) through the Store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from station.errors import StationError

SEXES = ("female", "male", "other")
DOMINANT_HANDS = ("right", "left")
AFFECTED_SIDES = ("none", "right", "left", "both")
#: How many search results the screen lists.
SEARCH_LIMIT = 50


@dataclass(frozen=True)
class ParticipantRow:
    code: str
    birth_year: int | None
    sex: str | None
    dominant_hand: str | None
    affected_side: str | None

    @property
    def summary(self) -> str:
        return (
            f"born {self.birth_year or '-'}, {self.sex or 'sex -'}, "
            f"{self.dominant_hand or '-'}-handed, affected: {self.affected_side or '-'}"
        )


def _row(p: Any) -> ParticipantRow:
    return ParticipantRow(p.code, p.birth_year, p.sex, p.dominant_hand, p.affected_side)


class ParticipantController:
    """Search by part of the code, create with the details the protocols and norms use."""

    def __init__(self, store: Any):
        self.store = store
        self.selected: ParticipantRow | None = None

    def search(self, text: str = "") -> list[ParticipantRow]:
        return [
            _row(p)
            for p in self.store.list_participants(search=text.strip() or None, limit=SEARCH_LIMIT)
        ]

    def select(self, code: str) -> ParticipantRow:
        p = self.store.get_participant(code.strip())
        if p is None:
            raise StationError(f"no participant with code {code.strip()!r}")
        self.selected = _row(p)
        return self.selected

    def create(
        self,
        code: str,
        *,
        birth_year: int | str | None = None,
        sex: str | None = None,
        dominant_hand: str | None = None,
        affected_side: str | None = None,
    ) -> ParticipantRow:
        """Add a participant (the store checks the code and every field) and select them."""
        year: int | None
        if birth_year in (None, ""):
            year = None
        else:
            try:
                year = int(str(birth_year).strip())
            except ValueError:
                raise StationError(f"birth year: not a year: {birth_year!r}") from None
        p = self.store.add_participant(
            code.strip(),
            birth_year=year,
            sex=sex or None,
            dominant_hand=dominant_hand or None,
            affected_side=affected_side or None,
        )
        self.selected = _row(p)
        return self.selected
