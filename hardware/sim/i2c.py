"""A fake Blinka ``busio.I2C`` bus that routes transactions to simulated target devices.

Modelled: the busio interface the Adafruit drivers use (``try_lock``/``unlock``, ``scan``,
``writeto``, ``readfrom_into``, ``writeto_then_readfrom`` with slicing, ``deinit``, context
manager); an address NACK when nothing is attached (``OSError`` with ``EREMOTEIO``, which is
what the Pi's i2c-bcm2835 adapter returns through i2c-dev, so the driver's probe reports "No I2C
device"); the bus time of every transaction from its bit count at ``frequency_hz`` (optionally
spent on a :class:`~hardware.clock.VirtualClock` before the target sees the transaction);
injected faults (``fail_next`` and a seeded ``error_rate``).

Not modelled: clock stretching, arbitration, 10-bit addresses, SMBus block/PEC, the cost of
``scan`` (it is free and never faulted). Like Blinka on Linux, transactions do not check that
the caller holds the lock. A faulted transaction never reaches the target.
"""

from __future__ import annotations

import errno as errno_codes
import os
import random
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from hardware.clock import NS_PER_S, Clock, VirtualClock

START_BITS = 1
STOP_BITS = 1
BITS_PER_BYTE = 9  # 8 data bits + ACK/NACK


class I2CTarget(Protocol):
    """What a simulated device behind :class:`FakeI2C` implements."""

    def i2c_write(self, data: bytes) -> None:
        """One write transaction's data bytes (may be empty: a probe)."""

    def i2c_read(self, n: int) -> bytes:
        """One read transaction: return exactly ``n`` bytes."""


def transaction_bits(n_write: int | None, n_read: int | None) -> int:
    """Bits on the wire for a write, a read, or a write-then-read (repeated start) transaction.

    Each address phase costs a (repeated) START plus the address byte with its ACK; every data
    byte costs 9 bits; one STOP ends the transaction.
    """
    phases = (n_write is not None) + (n_read is not None)
    data_bytes = (n_write or 0) + (n_read or 0)
    return phases * (START_BITS + BITS_PER_BYTE) + data_bytes * BITS_PER_BYTE + STOP_BITS


def _slice(length: int, start: int, end: int | None) -> slice:
    end = length if end is None else end
    if not 0 <= start <= end <= length:
        raise ValueError(f"buffer slice [{start}:{end}] out of range for length {length}")
    return slice(start, end)


class FakeI2C:
    """A busio.I2C stand-in: attach simulated targets by 7-bit address."""

    def __init__(
        self,
        clock: Clock,
        frequency_hz: int = 400_000,
        advance_clock: bool = False,
        *,
        error_rate: float = 0.0,
        seed: int = 0,
        nack_errno: int = errno_codes.EREMOTEIO,
    ) -> None:
        if frequency_hz <= 0:
            raise ValueError("frequency_hz must be positive")
        self.clock = clock
        self.frequency_hz = frequency_hz
        self.advance_clock = advance_clock
        self.nack_errno = nack_errno
        self.transactions = 0
        self.bytes_transferred = 0
        self.bus_time_ns = 0
        self._devices: dict[int, I2CTarget] = {}
        self._lock = threading.Lock()  # the busio bus lock (try_lock/unlock)
        self._xfer_lock = threading.Lock()  # serialises transactions and counters
        self._rng = random.Random(seed)
        self._error_rate = 0.0
        self.error_rate = error_rate
        self._fail_next = 0
        self._fail_errno = errno_codes.EIO
        self._deinited = False
        #: Called after every unlock: lets a simulation loop run other readers between two
        #: transactions, as their threads would on a real shared bus.
        self.on_unlock: Callable[[], None] | None = None

    # --- devices and faults -------------------------------------------------------------
    def attach(self, address: int, device: I2CTarget) -> None:
        _check_address(address)
        with self._xfer_lock:
            if address in self._devices:
                raise ValueError(f"an I2C device is already attached at 0x{address:02x}")
            self._devices[address] = device

    def detach(self, address: int) -> I2CTarget:
        """Remove the device at ``address`` (it vanishes: later transactions to it fail)."""
        with self._xfer_lock:
            if address not in self._devices:
                raise KeyError(f"no I2C device attached at 0x{address:02x}")
            return self._devices.pop(address)

    @property
    def error_rate(self) -> float:
        return self._error_rate

    @error_rate.setter
    def error_rate(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("error_rate must be within 0..1")
        self._error_rate = float(rate)

    def fail_next(self, n: int = 1, errno: int = errno_codes.EIO) -> None:
        """Make the next ``n`` transactions to present devices raise ``OSError(errno)``."""
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._xfer_lock:
            self._fail_next = n
            self._fail_errno = errno

    def transaction_time_ns(self, n_write: int | None, n_read: int | None) -> int:
        return round(transaction_bits(n_write, n_read) * NS_PER_S / self.frequency_hz)

    # --- busio interface ----------------------------------------------------------------
    def try_lock(self) -> bool:
        return self._lock.acquire(blocking=False)

    def unlock(self) -> None:
        if self._lock.locked():  # Blinka's unlock is a no-op when not locked
            self._lock.release()
        if self.on_unlock is not None:
            self.on_unlock()

    def scan(self) -> list[int]:
        self._check_open()
        with self._xfer_lock:
            return sorted(self._devices)

    def writeto(
        self,
        address: int,
        buffer: bytes | bytearray | memoryview,
        *,
        start: int = 0,
        end: int | None = None,
    ) -> None:
        data = bytes(memoryview(buffer)[_slice(len(buffer), start, end)])
        self._transfer(address, data, None)

    def readfrom_into(
        self,
        address: int,
        buffer: bytearray | memoryview,
        *,
        start: int = 0,
        end: int | None = None,
    ) -> None:
        span = _slice(len(buffer), start, end)
        buffer[span] = self._transfer(address, None, span.stop - span.start)

    def writeto_then_readfrom(
        self,
        address: int,
        buffer_out: bytes | bytearray | memoryview,
        buffer_in: bytearray | memoryview,
        *,
        out_start: int = 0,
        out_end: int | None = None,
        in_start: int = 0,
        in_end: int | None = None,
    ) -> None:
        data = bytes(memoryview(buffer_out)[_slice(len(buffer_out), out_start, out_end)])
        span = _slice(len(buffer_in), in_start, in_end)
        buffer_in[span] = self._transfer(address, data, span.stop - span.start)

    def deinit(self) -> None:
        self._deinited = True

    def __enter__(self) -> FakeI2C:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.deinit()

    # --- internals ----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._deinited:
            raise ValueError("Object has been deinitialized and can no longer be used.")

    def _spend(self, bits: int) -> None:
        dt_ns = round(bits * NS_PER_S / self.frequency_hz)
        self.bus_time_ns += dt_ns
        if self.advance_clock and isinstance(self.clock, VirtualClock):
            self.clock.advance(dt_ns)

    def _take_fault(self) -> int | None:
        if self._fail_next > 0:
            self._fail_next -= 1
            return self._fail_errno
        if self._error_rate > 0.0 and self._rng.random() < self._error_rate:
            return errno_codes.EIO
        return None

    def _transfer(self, address: int, out: bytes | None, n_in: int | None) -> bytes:
        if not 0 <= address <= 0x7F:
            _check_address(address)
        if self._deinited:
            self._check_open()
        with self._xfer_lock:
            self.transactions += 1
            device = self._devices.get(address)
            if device is None:  # nobody ACKs the address byte: START, address, STOP
                self._spend(START_BITS + BITS_PER_BYTE + STOP_BITS)
                raise _bus_error(address, self.nack_errno, "no device acknowledged")
            # (no fault to take draws no random number)
            fault = self._take_fault() if self._fail_next or self._error_rate > 0.0 else None
            n_out = None if out is None else len(out)
            self._spend(transaction_bits(n_out, n_in))
            if fault is not None:
                raise _bus_error(address, fault, "injected")
            if out is not None:
                device.i2c_write(out)
            data = b"" if n_in is None else bytes(device.i2c_read(n_in))
            if len(data) != (n_in or 0):
                raise RuntimeError(f"device at 0x{address:02x} returned {len(data)} bytes")
            self.bytes_transferred += (n_out or 0) + len(data)
            return data


def _check_address(address: int) -> None:
    if not 0 <= address <= 0x7F:
        raise ValueError(f"I2C address must be 7-bit, got {address!r}")


def _bus_error(address: int, eno: int, reason: str) -> OSError:
    """``OSError`` with ``errno`` set and a message naming the address."""
    err = OSError(
        f"I2C transaction to 0x{address:02x} failed: [Errno {eno}] {os.strerror(eno)} ({reason})"
    )
    err.errno = eno
    return err
