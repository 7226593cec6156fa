"""INCRBYFLOAT's arithmetic, reproducing Redis on x86-64 to the last digit.

Redis reads both operands with ``strtold``, adds them in C ``long double`` (the x87 80-bit
format: a 64-bit significand) and writes the sum with ``"%.17Lf"``, trailing zeros removed.
A Python ``float`` has a 53-bit significand: printed the same way, 10.5 + 0.1 gives
``10.59999999999999964`` where Redis prints ``10.6``. So values here are exact
:class:`~fractions.Fraction` objects, and every step rounds as the hardware does: to the nearest
64-bit significand, ties to even, with the format's exponent range and gradual underflow; the
printing rounds the exact binary value to 17 decimals, ties to even, as glibc does.

One known difference, from glibc: a hexadecimal number just above half the smallest subnormal
with more than 64 significant bits (``0x1.0000000000000001p-16446``) is refused by Redis and
read as ``2**-16445`` here.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

SIGNIFICAND_BITS = 64
#: A finite value is ``m * 2**e`` with ``m < 2**64``; below 2**-16382 values are subnormal and
#: ``e`` stays at its floor, so the smallest positive value is ``2**-16445``.
MIN_EXPONENT = -16445
MAX_EXPONENT = 16383 - (SIGNIFICAND_BITS - 1)
#: Redis refuses a number this long or longer (its MAX_LONG_DOUBLE_CHARS buffer).
MAX_TEXT = 5 * 1024
#: Decimal exponents beyond which a number surely overflows, or surely rounds to zero.
_MAX_DECIMAL_EXPONENT = 4933
_MIN_DECIMAL_EXPONENT = -4952
#: Python refuses int/str conversions of more digits than this at once (its default guard).
_DIGITS_PER_CHUNK = 4000
_CHUNK_SCALE: int = 10**_DIGITS_PER_CHUNK

_DECIMAL = re.compile(rb"([+-]?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?")
_HEXADECIMAL = re.compile(
    rb"([+-]?)0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))(?:[pP]([+-]?[0-9]+))?"
)
_INFINITY = re.compile(rb"([+-]?)(?:inf|infinity)", re.IGNORECASE)


class NotAFloatError(ValueError):
    """Text Redis does not read as a float."""


class InfiniteError(ArithmeticError):
    """An infinite operand, or a sum too large for the format."""


#: A value is exact, or one of the two infinities (which ``strtold`` reads from "inf").
Value = Fraction | float


def parse(raw: bytes) -> Value:
    """The value ``strtold`` reads from ``raw``, as Redis's ``string2ld`` accepts it.

    Refused (:class:`NotAFloatError`): empty or too long text, a leading blank, anything after the
    number, NaN, and a finite number out of range (overflow or underflow to zero). An infinity
    spelled out is accepted, as a float.
    """
    if len(raw) >= MAX_TEXT:  # the patterns below admit no blanks, no NUL, nothing empty
        raise NotAFloatError(raw)
    match = _DECIMAL.fullmatch(raw)
    if match is not None:
        return _round_parsed(match, 10)
    match = _HEXADECIMAL.fullmatch(raw)
    if match is not None:
        return _round_parsed(match, 16)
    match = _INFINITY.fullmatch(raw)
    if match is not None:
        return -math.inf if match.group(1) == b"-" else math.inf
    raise NotAFloatError(raw)


def add(left: Value, right: Value) -> Fraction:
    """``left + right`` rounded to the format; :class:`InfiniteError` if either is infinite (the sum
    is then infinite or NaN) or the sum overflows."""
    if isinstance(left, float) or isinstance(right, float):
        raise InfiniteError("infinite operand")
    total = _round(left + right)
    if total is None:
        raise InfiniteError("overflow")
    return total


def format_human(value: Fraction) -> bytes:
    """``"%.17Lf"`` with trailing zeros (and a bare point) removed, and ``-0`` as ``0``."""
    scaled = round(abs(value) * 10**17)  # Fraction rounds half to even, as glibc's printf
    if scaled == 0:
        return b"0"
    whole, fraction = divmod(scaled, 10**17)
    text = _to_digits(whole)
    decimals = b"%017d" % fraction
    decimals = decimals.rstrip(b"0")
    if decimals:
        text += b"." + decimals
    return b"-" + text if value < 0 else text


# -- reading ----------------------------------------------------------------------------------


def _round_parsed(match: re.Match[bytes], base: int) -> Fraction:
    sign, whole, fraction, only_fraction, exponent_text = match.groups()
    digits = (whole or b"") + (fraction or only_fraction or b"")
    fraction_digits = len(fraction or only_fraction or b"")
    significant = digits.lstrip(b"0")
    if not significant:
        return Fraction(0)  # an exact zero, whatever its exponent: no range error
    exponent = _exponent(exponent_text)
    if base == 10:
        mantissa_text = significant.rstrip(b"0")
        exponent += len(significant) - len(mantissa_text) - fraction_digits
        leading = exponent + len(mantissa_text) - 1
        if leading > _MAX_DECIMAL_EXPONENT or leading < _MIN_DECIMAL_EXPONENT:
            raise NotAFloatError("out of range")
        mantissa = _from_digits(mantissa_text)
        exact = (
            Fraction(mantissa * 10**exponent)
            if exponent >= 0
            else Fraction(mantissa, 10**-exponent)
        )
    else:
        mantissa = int(significant, 16)
        exponent -= 4 * fraction_digits
        leading = exponent + mantissa.bit_length()
        if leading > MAX_EXPONENT + SIGNIFICAND_BITS + 1 or leading < MIN_EXPONENT - 1:
            raise NotAFloatError("out of range")
        exact = (
            Fraction(mantissa << exponent) if exponent >= 0 else Fraction(mantissa, 1 << -exponent)
        )
    rounded = _round(exact)
    if rounded is None or rounded == 0:  # ERANGE with HUGE_VAL or zero: Redis refuses
        raise NotAFloatError("out of range")
    return -rounded if sign == b"-" else rounded


def _exponent(text: bytes | None) -> int:
    if text is None:
        return 0
    negative = text[:1] == b"-"
    digits = text.lstrip(b"+-").lstrip(b"0")
    if len(digits) > 9:  # far beyond any range check below, and cheap to compare
        return -(10**9) if negative else 10**9
    value = int(digits or b"0")
    return -value if negative else value


def _from_digits(digits: bytes) -> int:
    if len(digits) <= _DIGITS_PER_CHUNK:
        return int(digits)
    split = len(digits) - _DIGITS_PER_CHUNK
    return _from_digits(digits[:split]) * _CHUNK_SCALE + int(digits[split:])


def _to_digits(value: int) -> bytes:
    if value < _CHUNK_SCALE:
        return b"%d" % value
    high, low = divmod(value, _CHUNK_SCALE)
    return _to_digits(high) + b"%0*d" % (_DIGITS_PER_CHUNK, low)


# -- rounding ---------------------------------------------------------------------------------


def _round(value: Fraction) -> Fraction | None:
    """``value`` rounded to the nearest long double (ties to even); None past the largest."""
    if value == 0:
        return Fraction(0)
    numerator, denominator = abs(value.numerator), value.denominator
    # The exponent putting the significand in [2**63, 2**64): the bit lengths bound it to two
    # candidates; then gradual underflow keeps it at its floor.
    exponent = numerator.bit_length() - denominator.bit_length() - SIGNIFICAND_BITS
    if _scaled(numerator, denominator, exponent)[0][0] >> SIGNIFICAND_BITS:
        exponent += 1
    exponent = max(exponent, MIN_EXPONENT)
    (significand, remainder), divisor = _scaled(numerator, denominator, exponent)
    if 2 * remainder > divisor or (2 * remainder == divisor and significand & 1):
        significand += 1
    if significand >> SIGNIFICAND_BITS:  # rounded up to 2**64: one more exponent, still exact
        significand >>= 1
        exponent += 1
    if exponent > MAX_EXPONENT:
        return None
    if significand == 0:
        return Fraction(0)
    magnitude = (
        Fraction(significand << exponent)
        if exponent >= 0
        else Fraction(significand, 1 << -exponent)
    )
    return magnitude if value > 0 else -magnitude


def _scaled(numerator: int, denominator: int, exponent: int) -> tuple[tuple[int, int], int]:
    """``divmod(numerator / 2**exponent, denominator)`` as integers, and the divisor used."""
    if exponent >= 0:
        divisor = denominator << exponent
        return divmod(numerator, divisor), divisor
    return divmod(numerator << -exponent, denominator), denominator
