"""The clinic server's settings and its secret key.

The secret key signs the session cookies. There is no default: it is read from
``<data_dir>/secret_key``, a file of random text readable by its owner only (mode 0600), made by
``station serve --init`` (or ``station user add``) when absent. A missing, short or group/world
readable key stops the server with a message saying how to fix it.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
from pathlib import Path
from typing import Any, Final

from station.errors import ConfigError

SECRET_KEY_FILENAME: Final = "secret_key"
ACCOUNTS_FILENAME: Final = "web.sqlite"
#: Characters of hex text in a generated key (256 bits).
SECRET_KEY_HEX_CHARS: Final = 64
#: The shortest key accepted (hex characters or any text).
MIN_SECRET_KEY_CHARS: Final = 32

#: Defaults of the Flask configuration keys the app reads (any may be overridden).
DEFAULTS: Final[dict[str, Any]] = {
    # Sign-in: after LOGIN_MAX_FAILURES wrong passwords in a row an account is locked for
    # LOGIN_LOCKOUT_MINUTES.
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_LOCKOUT_MINUTES": 15,
    # How long a browser session lasts without signing in again.
    "SESSION_HOURS": 8,
    # Password hashing (werkzeug's method string); the hash records its own parameters, so a
    # change only applies to passwords set afterwards.
    "PASSWORD_HASH_METHOD": "scrypt",
    # The address the server is bound to (set by `station serve`).
    "SERVER_HOST": None,
    # Whether the server speaks HTTPS (set by `station serve`); None: not known (tests).
    "SERVER_TLS": None,
    # Session cookies marked Secure. None: when SERVER_TLS says HTTPS; if SERVER_TLS is None,
    # unless TESTING or SERVER_HOST is a loopback address (plain HTTP is allowed there only).
    # True/False: force.
    "SECURE_COOKIES": None,
    # Largest request body accepted (forms only; the API reads nothing but the URL).
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # Database connections reading side by side (`station serve` sets its thread count).
    "STORE_READERS": 4,
}


class SecretKeyError(ConfigError):
    """The secret key is missing or unsafe; the message says how to fix it."""


def secret_key_path(data_dir: Path) -> Path:
    return Path(data_dir) / SECRET_KEY_FILENAME


def _create_hint(path: Path) -> str:
    return (
        "create one with `station serve --init` (it writes a random key to "
        f"{path} readable only by its owner)"
    )


def ensure_secret_key(data_dir: Path) -> tuple[Path, bool]:
    """Create ``<data_dir>/secret_key`` (mode 0600) if absent; returns (path, created)."""
    path = secret_key_path(data_dir)
    try:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        read_secret_key(data_dir)  # refuse an unsafe existing key now, not at the next start
        return path, False
    except OSError as exc:
        raise SecretKeyError(
            f"{path}: cannot create the secret key ({exc.strerror or exc})"
        ) from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secrets.token_hex(SECRET_KEY_HEX_CHARS // 2) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return path, True


def read_secret_key(data_dir: Path) -> str:
    """The key from ``<data_dir>/secret_key``; refuses a missing, short or shared one."""
    path = secret_key_path(data_dir)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SecretKeyError(
            f"no secret key: {path} does not exist; the server will not start without one: "
            + _create_hint(path)
        ) from None
    except OSError as exc:
        raise SecretKeyError(
            f"{path}: cannot read the secret key ({exc.strerror or exc})"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise SecretKeyError(f"{path}: the secret key must be a regular file")
    if info.st_mode & 0o077:
        raise SecretKeyError(
            f"{path}: the secret key is readable by other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); make it private with `chmod 600 {path}`"
        )
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"{path}: cannot read the secret key ({exc})") from None
    if len(key) < MIN_SECRET_KEY_CHARS:
        raise SecretKeyError(
            f"{path}: the secret key is too short ({len(key)} characters, at least "
            f"{MIN_SECRET_KEY_CHARS}); delete the file and " + _create_hint(path)
        )
    return key


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False
