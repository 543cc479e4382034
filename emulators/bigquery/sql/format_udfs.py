"""CAST ... FORMAT in Python where DuckDB's strftime/strptime cannot follow BigQuery (see
``udfs.py``): numbers to STRING with a numeric format model, and STRING to DATE/DATETIME/TIME/
TIMESTAMP with a date/time format model (A.M./P.M., FFn rounding, TZH/TZM, missing parts).

The models are checked when the query is translated (``numeric_model``, ``datetime_model``), so
a bad format is a query error before anything runs; the functions here read them again per call.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from zoneinfo import ZoneInfo

# --- numbers -> STRING ----------------------------------------------------------------------------

_NUMERIC_ELEMENTS = ("EEEE", "FM", "MI", "PR", "RN", "0", "9", "X", ",", "G", ".", "D", "V", "S",
                     "$", "C", "L", "B")  # fmt: skip


def numeric_model(fmt: str) -> list[str]:
    """The elements of a numeric format model (``'$999,999.99'``), or ValueError."""
    elements, i = [], 0
    while i < len(fmt):
        for name in _NUMERIC_ELEMENTS:
            if fmt[i : i + len(name)].upper() == name:
                elements.append(fmt[i : i + len(name)])
                i += len(name)
                break
        else:
            raise ValueError(f"Invalid format element '{fmt[i]}'")
    upper = [e.upper() for e in elements]
    if "EEEE" in upper:
        raise ValueError("Format element 'EEEE' is not supported by the emulator")
    if "RN" in upper:
        if any(e not in ("RN", "FM") for e in upper):
            raise ValueError("'RN' cannot be combined with other format elements except 'FM'")
        return elements
    if not any(e in ("0", "9", "X") for e in upper):
        raise ValueError("Format string must contain at least one of 'X', '0' or '9'")
    if "X" in upper and any(e in ("9", ",", "G", ".", "D", "V", "$", "C", "L", "B") for e in upper):
        raise ValueError("'X' can only appear with '0', 'FM' and the sign format elements")
    if sum(e in (".", "D", "V") for e in upper) > 1:
        raise ValueError("There can be at most one of '.', 'D', or 'V'")
    if sum(e in ("S", "MI", "PR") for e in upper) > 1 or sum(e in "$CL" for e in upper) > 1:
        raise ValueError("A sign or currency format element appears more than once")
    for name in ("MI", "PR"):
        if name in upper and upper[-1] != name and upper[-2:] != [name, "FM"]:
            raise ValueError(f"'{name}' can only appear in the last position")
    return elements


def _roman(number: int) -> str:
    out = ""
    for value, letters in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"),
                           (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"),
                           (4, "IV"), (1, "I")):  # fmt: skip
        count, number = divmod(number, value)
        out += letters * count
    return out


def format_number(text: str, fmt: str) -> str:
    """``CAST(number AS STRING FORMAT fmt)``; ``text`` is the number as DuckDB prints it."""
    elements = numeric_model(fmt)
    upper = [e.upper() for e in elements]
    compact = "FM" in upper
    lowered = text.strip().lower()
    if lowered in ("nan", "inf", "-inf", "infinity", "-infinity"):
        special = {"nan": "NaN"}.get(lowered, "-Inf" if lowered.startswith("-") else "Inf")
        return special
    value = decimal.Decimal(text)
    negative = value < 0
    value = abs(value)
    if "RN" in upper:
        number = int(value.quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))
        if not 1 <= number <= 3999:
            raise ValueError(f"Invalid input value {text} for format element 'RN'; must be "
                             "between 1 and 3999")  # fmt: skip
        roman = _roman(number)
        roman = roman.lower() if elements[upper.index("RN")] == "rn" else roman
        return roman if compact else roman.rjust(15)
    point = next((i for i, e in enumerate(upper) if e in (".", "D", "V")), len(upper))
    integer_elements = [e for e in elements[:point] if e.upper() in ("0", "9", "X", ",", "G")]
    fraction_digits = sum(e in ("0", "9") for e in upper[point + 1 :])
    if point < len(upper) and upper[point] == "V":  # an invisible point: scale the value
        value *= decimal.Decimal(10) ** fraction_digits
        integer_elements += [e for e in elements[point + 1 :] if e in ("0", "9")]
        fraction_digits = 0
    hexadecimal = "X" in upper
    rounded = value.quantize(decimal.Decimal(1).scaleb(-fraction_digits),
                             rounding=decimal.ROUND_HALF_UP)  # fmt: skip
    whole = int(rounded)
    digits = (format(whole, "X") if hexadecimal else str(whole)) if whole else ""
    fraction = str(rounded).partition(".")[2][:fraction_digits].ljust(fraction_digits, "0")
    digit_slots = [i for i, e in enumerate(integer_elements) if e.upper() in ("0", "9", "X")]
    first_zero = next((n for n, i in enumerate(digit_slots) if integer_elements[i] == "0"), None)
    shown = len(digits)
    if first_zero is not None:
        shown = max(shown, len(digit_slots) - first_zero)
    elif not digits and (not fraction_digits or hexadecimal):
        shown = 1  # zero prints one digit when there is nothing after the point
    overflow = len(digits) > len(digit_slots)
    padded = digits.rjust(shown, "0")
    chars: list[str] = []
    start = len(integer_elements)  # where the printed integer part starts
    slot = len(digit_slots)
    for i in range(len(integer_elements) - 1, -1, -1):
        element = integer_elements[i]
        if element.upper() in ("0", "9", "X"):
            slot -= 1
            position = slot - (len(digit_slots) - shown)
            if overflow:
                chars.append("#")
                start = i
            elif position >= 0:
                digit = padded[position]
                if element.upper() == "X" or (hexadecimal and element == "0"):
                    digit = digit.lower() if _hex_case(integer_elements, i) == "x" else digit
                chars.append(digit)
                start = i
            else:
                chars.append(" ")
        else:  # a group separator: shown inside the number, blank before it
            chars.append(",")
    integer = "".join(reversed(chars))
    blanks = sum(1 for i in range(start) if i < len(integer_elements))
    integer = integer[start:]
    point_text = "." if point < len(upper) and upper[point] in (".", "D") else ""
    if overflow:
        fraction = "#" * fraction_digits
    currency = next(({"$": "$", "C": "USD", "L": "$"}[e.upper()] if e != "c" else "usd"
                     for e in elements if e.upper() in ("$", "C", "L")), "")  # fmt: skip
    zero = whole == 0 and not fraction.strip("0#")
    front, back = " ", ""
    if "S" in upper:
        sign = " " if zero else "-" if negative else "+"
        last_digit = max(i for i, e in enumerate(upper) if e in ("0", "9", "X"))
        front, back = ("", sign) if upper.index("S") > last_digit else (sign, "")
    elif "MI" in upper:
        front, back = "", "-" if negative else " "
    elif "PR" in upper:
        front, back = ("<", ">") if negative else (" ", " ")
    elif negative and not zero:
        front = "-"
    out = " " * blanks + front + currency + integer + point_text + fraction + back
    if "B" in upper and whole == 0 and not overflow:
        out = " " * len(out)
    if compact:
        if point_text and fraction:
            kept = fraction.rstrip("0")
            out = out.replace(point_text + fraction + back, point_text + kept + back, 1)
        out = out.replace(" ", "")
    return out


def _hex_case(elements: list[str], index: int) -> str:
    """A '0' takes the case of the next X/x; an X/x its own."""
    for element in elements[index:]:
        if element in ("X", "x"):
            return element
    return "X"


# --- STRING -> DATE/DATETIME/TIME/TIMESTAMP -----------------------------------------------------

_DATE_ELEMENTS = ("YYYY", "RRRR", "YYY", "YY", "RR", "Y", "MONTH", "MON", "MM", "DDD", "DD",
                  "HH24", "HH12", "HH", "MI", "SSSSS", "SS", "A.M.", "P.M.", "AM", "PM", "TZH",
                  "TZM")  # fmt: skip
FRACTION = _FRACTION = re.compile(r"FF([1-9])", re.IGNORECASE)
_MONTHS = ["JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER",
           "OCTOBER", "NOVEMBER", "DECEMBER"]  # fmt: skip


def split_model(fmt: str, names: list[str], strict: bool) -> list[tuple[str, str]]:
    """('element', text as written) and ('literal', text) pieces of a date/time format model;
    FFn, the ``names`` (longest first) and ``"quoted"`` literals. With ``strict`` a letter or
    digit that starts no element is an error (parsing), otherwise a literal (formatting)."""
    pieces: list[tuple[str, str]] = []
    i = 0
    while i < len(fmt):
        fraction = _FRACTION.match(fmt, i)
        if fraction:
            pieces.append(("element", fraction.group(0).upper()))
            i = fraction.end()
            continue
        for name in names:
            if fmt[i : i + len(name)].upper() == name:
                pieces.append(("element", fmt[i : i + len(name)]))
                i += len(name)
                break
        else:
            if fmt[i] == '"':
                end = fmt.find('"', i + 1)
                end = len(fmt) if end < 0 else end
                pieces.append(("literal", fmt[i + 1 : end]))
                i = end + 1
            elif strict and fmt[i].isalnum():
                raise ValueError(f"Cannot find matched format element at {i}")
            else:
                pieces.append(("literal", fmt[i]))
                i += 1
    return pieces


def datetime_model(fmt: str, target: str) -> list[tuple[str, str]]:
    """('element', NAME) / ('literal', text) pieces of a model for parsing, or ValueError
    following BigQuery's format model rules."""
    pieces = [(kind, text.upper() if kind == "element" else text)
              for kind, text in split_model(fmt, list(_DATE_ELEMENTS), strict=True)]  # fmt: skip
    names = [text for kind, text in pieces if kind == "element"]
    if len(names) != len(set(names)):
        raise ValueError("A format element appears more than once in the format string")
    meridian = any(n in ("A.M.", "P.M.", "AM", "PM") for n in names)
    twelve = any(n in ("HH", "HH12") for n in names)
    if twelve != meridian:
        raise ValueError("A 12-hour format element needs a meridian indicator, and back")
    if "HH24" in names and twelve:
        raise ValueError("Format element HH24 cannot be used with HH, HH12 or A.M./P.M.")
    date_parts = {"YYYY", "RRRR", "YYY", "YY", "RR", "Y", "MONTH", "MON", "MM", "DDD", "DD"}
    time_parts = {"HH24", "HH12", "HH", "MI", "SSSSS", "SS"} | {"A.M.", "P.M.", "AM", "PM"}
    if target == "DATE" and any(n in time_parts or n.startswith("FF") for n in names):
        raise ValueError("A time format element cannot be used when casting to DATE")
    if target == "TIME" and any(n in date_parts for n in names):
        raise ValueError("A date format element cannot be used when casting to TIME")
    return pieces


def _digits(text: str, at: int, low: int, high: int, what: str) -> tuple[int, int]:
    match = re.compile(rf"\d{{{low},{high}}}").match(text, at)
    if not match:
        raise ValueError(f"Failed to parse input string \"{text}\": {what} expected at {at}")
    return int(match.group(0)), match.end()


def parse_with_format(text: str, fmt: str, target: str, zone: str) -> dt.datetime:
    """``CAST(text AS target FORMAT fmt [AT TIME ZONE zone])`` as a naive datetime; for a
    TIMESTAMP it is in UTC."""
    pieces = datetime_model(fmt, target)
    today = dt.datetime.now(dt.timezone.utc).date()
    year, month, day, yday = today.year, today.month, 1, None
    hour = minute = second = micros = 0
    pm = None
    offset = None
    tz_sign = 1
    at = 0
    for n, (kind, piece) in enumerate(pieces):
        if kind == "literal":
            if piece.isspace():
                while at < len(text) and text[at].isspace():
                    at += 1
                continue
            if text[at : at + len(piece)].upper() != piece.upper():
                raise ValueError(f"Mismatch between format character '{piece}' and string "
                                 f"character '{text[at:at + 1]}'")  # fmt: skip
            at += len(piece)
            continue
        delimited = n + 1 == len(pieces) or pieces[n + 1][0] == "literal"
        if piece in ("YYYY", "RRRR"):
            year, at = _digits(text, at, 1 if delimited else 4, 5 if delimited else 4, "year")
        elif piece in ("YYY", "YY", "RR", "Y"):
            width = {"YYY": 3, "YY": 2, "RR": 2, "Y": 1}[piece]
            value, at = _digits(text, at, width, width, "year")
            year = year - year % 10**width + value
        elif piece == "MM":
            month, at = _digits(text, at, 1, 2, "month")
        elif piece in ("MON", "MONTH"):
            word = re.compile(r"[A-Za-z]+").match(text, at)
            name = word.group(0).upper() if word else ""
            names = _MONTHS if piece == "MONTH" else [m[:3] for m in _MONTHS]
            if name not in names:
                raise ValueError(f"Failed to parse input string \"{text}\": month name "
                                 f"expected at {at}")  # fmt: skip
            month, at = names.index(name) + 1, word.end()
        elif piece == "DD":
            day, at = _digits(text, at, 1, 2, "day")
        elif piece == "DDD":
            yday, at = _digits(text, at, 1, 3, "day of year")
        elif piece in ("HH", "HH12", "HH24"):
            hour, at = _digits(text, at, 1, 2, "hour")
            if piece != "HH24" and not 1 <= hour <= 12:
                raise ValueError(f"Invalid hour {hour} for format element {piece}")
        elif piece == "MI":
            minute, at = _digits(text, at, 1, 2, "minute")
        elif piece == "SS":
            second, at = _digits(text, at, 1, 2, "second")
        elif piece == "SSSSS":
            seconds, at = _digits(text, at, 5, 5, "seconds of the day")
            hour, rest = divmod(seconds, 3600)
            minute, second = divmod(rest, 60)
        elif piece.startswith("FF"):
            match = re.compile(r"\d{1,9}").match(text, at)
            if not match:
                raise ValueError(f"Failed to parse input string \"{text}\": fraction expected")
            places = int(piece[2:])
            fraction = decimal.Decimal("0." + match.group(0)).quantize(
                decimal.Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP)
            micros, at = int(fraction * 1_000_000), match.end()
        elif piece in ("A.M.", "P.M.", "AM", "PM"):
            pattern = r"([AaPp])\.[Mm]\." if "." in piece else r"([AaPp])[Mm]"
            match = re.compile(pattern).match(text, at)
            if not match:
                raise ValueError(f"Failed to parse input string \"{text}\": A.M. or P.M. "
                                 f"expected at {at}")  # fmt: skip
            pm, at = match.group(1).upper() == "P", match.end()
        elif piece == "TZH":
            match = re.compile(r"([+\- ])(\d{1,2})").match(text, at)
            if not match:
                raise ValueError(f"Failed to parse input string \"{text}\": time zone hour "
                                 f"expected at {at}")  # fmt: skip
            tz_sign = -1 if match.group(1) == "-" else 1
            offset, at = tz_sign * int(match.group(2)) * 60, match.end()
        elif piece == "TZM":
            value, at = _digits(text, at, 2, 2, "time zone minute")
            offset = (offset or 0) + tz_sign * value
    if at != len(text):
        raise ValueError(f"Illegal non-space trailing data '{text[at:]}' in string \"{text}\"")
    if pm is not None:
        hour = hour % 12 + (12 if pm else 0)
    if yday is not None:
        base = dt.date(year, 1, 1) + dt.timedelta(days=yday - 1)
        month, day = base.month, base.day
    if target == "TIME":
        year, month, day = 1970, 1, 1
    value = dt.datetime(year, month, day, hour, minute, second, micros)
    if target != "TIMESTAMP":
        return value
    if offset is not None:
        return value - dt.timedelta(minutes=offset)
    local = value.replace(tzinfo=_zone(zone))
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None)


_OFFSET_ZONE = re.compile(r"(?:UTC)?([+-])(\d{1,2})(?::?(\d{2}))?")
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")


def _zone(name: str) -> dt.tzinfo:
    """A time zone as BigQuery names them (``America/Los_Angeles``, ``+05:30``, ``UTC``)."""
    offset = _OFFSET_ZONE.fullmatch(name)
    if offset:
        sign, hours, minutes = offset.groups()
        delta = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
        return dt.timezone(-delta if sign == "-" else delta)
    if name.upper() == "UTC":
        return dt.timezone.utc
    if not _ZONE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"Invalid time zone: {name}")
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError):
        raise ValueError(f"Invalid time zone: {name}") from None


FUNCTIONS = {
    "bq_format_number": (format_number, ["VARCHAR", "VARCHAR"], "VARCHAR"),
    "bq_parse_with_format": (parse_with_format, ["VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR"],
                             "TIMESTAMP"),  # fmt: skip
}
