"""Printed sign-in cards for self-guided mode: a QR code holding the participant's code.

The QR code holds ``DXS1:<code>`` (:func:`card_payload`): ``DXS1`` names the format (Dexterity
Station sign-in, version 1), then the pseudonymous participant code (1-32 letters, digits, ``_``
or ``-``; never a name). The PIN is never on the card: the card stands for the code only, the
participant still types their PIN.

A USB QR reader set up as a keyboard (the usual default, "HID keyboard" mode, with Enter after
each code) types the payload into the kiosk, which fills the code field from it
(:func:`parse_card`). Set the reader's keyboard layout to the station's (US by default) so that
``:`` arrives as ``:``. Camera readers are not supported: decoding images would need a
computer-vision library the station does not ship.

``station participants card CODE --out card.pdf`` (or ``.png``) makes a card of credit-card size
(85.6 x 54 mm): the PDF draws the code as vector squares (sharp at any printer resolution), the
PNG is 300 dpi.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from station.errors import StationError, UsageError

CARD_PREFIX: Final = "DXS1:"
CODE_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
#: ISO/IEC 7810 ID-1 (a bank card): 85.60 x 53.98 mm.
CARD_MM: Final = (85.6, 53.98)
PNG_DPI: Final = 300
CARD_FORMATS: Final = (".pdf", ".png")
TITLE: Final = "Dexterity Station"
LINES: Final = (
    "Sign-in card",
    "Show the card to the reader,",
    "then type your PIN.",
    "Your PIN is not on this card:",
    "keep it to yourself.",
)


class CardError(StationError):
    """A card payload or card file was refused."""


def card_payload(code: str) -> str:
    """The text in the QR code of ``code``'s card."""
    if not CODE_PATTERN.fullmatch(code):
        raise CardError(f"participant code {code!r} is not valid (1-32 letters, digits, _ or -)")
    return f"{CARD_PREFIX}{code}"


def parse_card(text: str) -> str | None:
    """The participant code in what a QR reader typed, or None when it is not a card's payload
    (the prefix in any case; spaces and line ends around it are ignored)."""
    text = text.strip()
    if len(text) <= len(CARD_PREFIX) or text[: len(CARD_PREFIX)].upper() != CARD_PREFIX:
        return None
    code = text[len(CARD_PREFIX) :]
    return code if CODE_PATTERN.fullmatch(code) else None


def _matrix(payload: str) -> list[list[bool]]:
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    qr.add_data(payload)
    qr.make(fit=True)
    return [[bool(x) for x in row] for row in qr.get_matrix()]


def write_card(code: str, path: Path) -> Path:
    """Write ``code``'s sign-in card to ``path`` (``.pdf`` or ``.png``, by its suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CARD_FORMATS:
        raise UsageError(f"--out: {path.name}: give a file ending in .pdf or .png")
    payload = card_payload(code)
    matrix = _matrix(payload)
    try:
        if suffix == ".pdf":
            _write_pdf(code, matrix, path)
        else:
            _write_png(code, matrix, path)
    except OSError as exc:
        raise CardError(f"{path}: cannot write the card ({exc.strerror or exc})") from None
    return path


def _code_lines(code: str) -> list[str]:
    """A long code on two lines (split in the middle)."""
    if len(code) <= 12:
        return [code]
    half = (len(code) + 1) // 2
    return [code[:half], code[half:]]


def _write_pdf(code: str, matrix: list[list[bool]], path: Path) -> None:
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    width, height = CARD_MM[0] * mm, CARD_MM[1] * mm
    c = canvas.Canvas(str(path), pagesize=(width, height))
    c.setTitle(f"Sign-in card {code}")
    c.setAuthor(TITLE)
    side = height - 8 * mm  # the QR code, quiet zone included
    cell = side / len(matrix)
    x0, y0 = 4 * mm, 4 * mm
    c.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(matrix):
        for col, dark in enumerate(row):
            if dark:
                c.rect(x0 + col * cell, y0 + side - (r + 1) * cell, cell, cell, stroke=0, fill=1)
    tx = x0 + side + 2 * mm
    c.setFont("Helvetica-Bold", 9)
    c.drawString(tx, height - 9 * mm, TITLE)
    room = width - tx - 2 * mm
    parts = _code_lines(code)
    size = 16.0
    while size > 5 and max(c.stringWidth(p, "Helvetica-Bold", size) for p in parts) > room:
        size -= 0.5  # a long code: smaller, never past the edge
    c.setFont("Helvetica-Bold", size)
    for i, part in enumerate(parts):
        c.drawString(tx, height - 17 * mm + (len(parts) - 1 - 2 * i) * 0.55 * size, part)
    c.setFont("Helvetica", 6.5)
    for i, line in enumerate(LINES):
        c.drawString(tx, height - 24 * mm - i * 3.4 * mm, line)
    c.setLineWidth(0.3)
    c.rect(0.5, 0.5, width - 1, height - 1, stroke=1, fill=0)  # a line to cut along
    c.showPage()
    c.save()


def _font(size: int) -> Any:
    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _write_png(code: str, matrix: list[list[bool]], path: Path) -> None:
    from PIL import Image, ImageDraw

    def px(mm_: float) -> int:
        return round(mm_ / 25.4 * PNG_DPI)

    width, height = px(CARD_MM[0]), px(CARD_MM[1])
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    side = height - 2 * px(4)
    cell = side // len(matrix)
    side = cell * len(matrix)
    x0 = y0 = px(4)
    for r, row in enumerate(matrix):
        for col, dark in enumerate(row):
            if dark:
                x, y = x0 + col * cell, y0 + r * cell
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=0)
    tx = x0 + side + px(2)
    draw.text((tx, px(4)), TITLE, fill=0, font=_font(px(3.2)))
    room = width - tx - px(2)
    parts = _code_lines(code)
    size = px(5.6)
    while size > px(1.5) and max(draw.textlength(p, font=_font(size)) for p in parts) > room:
        size -= 2  # a long code: smaller, never past the edge
    for i, part in enumerate(parts):
        draw.text((tx, px(10) + i * round(size * 1.1)), part, fill=0, font=_font(size))
    small = _font(px(2.2))
    for i, line in enumerate(LINES):
        draw.text((tx, px(21) + i * px(3.4)), line, fill=0, font=small)
    draw.rectangle((0, 0, width - 1, height - 1), outline=0, width=2)
    image.save(path, dpi=(PNG_DPI, PNG_DPI))
