"""BigQuery functions DuckDB has no SQL for, as Python functions registered on its connection.

The translator emits calls to ``bq_*`` functions where a BigQuery function cannot be written
as a DuckDB expression with BigQuery's exact results (FARM_FINGERPRINT, NET.*, NORMALIZE,
SOUNDEX, BYTES overloads, ...). ``register(con)`` must run on every DuckDB connection the
translated SQL runs on (the core does it once, when it opens its database; cursors share the
functions). Users cannot call these names: only BigQuery's function names pass the
translator (``surface.py``).

Errors are ``ValueError`` with BigQuery's message; the core strips DuckDB's wrapping.
"""

from __future__ import annotations

import base64
import decimal
import hashlib
import ipaddress
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from . import format_udfs, json_udfs, jsudf
from .farmhash import fingerprint64

_MASK = (1 << 64) - 1


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def fail(message: str) -> str:
    """Raise BigQuery's error; unlike DuckDB's error() it may stand inside try() (SAFE.)."""
    raise ValueError(message)


# --- hashing and code points --------------------------------------------------------------


def farm_fingerprint(data: str | bytes) -> int:
    return _signed(fingerprint64(data.encode() if isinstance(data, str) else bytes(data)))


def to_code_points(value: str | bytes) -> list[int]:
    return list(bytes(value)) if isinstance(value, (bytes, bytearray)) else [ord(c) for c in value]


def code_points_to_string(points: list) -> str | None:
    if any(p is None for p in points):
        return None
    return "".join(chr_(p) for p in points)


def code_points_to_bytes(points: list) -> bytes | None:
    if any(p is None for p in points):
        return None
    for p in points:
        if not 0 <= p <= 255:
            raise ValueError(f"Invalid codepoint {p}")
    return bytes(points)


def chr_(point: int) -> str:
    if point == 0:
        return ""
    if not (0 <= point <= 0xD7FF or 0xE000 <= point <= 0x10FFFF):
        raise ValueError(f"Invalid codepoint {point}")
    return chr(point)


def safe_convert_bytes_to_string(value: bytes) -> str:
    return bytes(value).decode("utf-8", errors="replace")


def to_base32(value: bytes) -> str:
    return base64.b32encode(bytes(value)).decode()


def from_base32(value: str) -> bytes:
    try:
        return base64.b32decode(value.encode(), casefold=False)
    except (ValueError, base64.binascii.Error):
        raise ValueError(f"Failed to decode invalid base32 string: {value}") from None


# --- strings ------------------------------------------------------------------------------------

_NORMAL_FORMS = {"NFC", "NFKC", "NFD", "NFKD"}


def normalize(value: str, form: str) -> str:
    if form.upper() not in _NORMAL_FORMS:
        raise ValueError(f"Invalid normalization mode: {form}")
    return unicodedata.normalize(form.upper(), value)


def normalize_and_casefold(value: str, form: str) -> str:
    # Unicode's toNFKC_Casefold for NFKC; otherwise normalize(casefold(normalize(x)))
    form = form.upper()
    if form not in _NORMAL_FORMS:
        raise ValueError(f"Invalid normalization mode: {form}")
    return unicodedata.normalize(form, unicodedata.normalize(form, value).casefold())


_SOUNDEX = {c: d for d, letters in
            {"1": "BFPV", "2": "CGJKQSXZ", "3": "DT", "4": "L", "5": "MN", "6": "R"}.items()
            for c in letters}  # fmt: skip


def soundex(value: str) -> str:
    """American Soundex; characters that are not Latin letters are skipped."""
    letters = [c for c in value.upper() if "A" <= c <= "Z"]
    if not letters:
        return ""
    code = [letters[0]]
    last = _SOUNDEX.get(letters[0], "")
    for c in letters[1:]:
        digit = _SOUNDEX.get(c, "")
        if digit and digit != last:
            code.append(digit)
        if c not in "HW":  # H and W do not separate letters of the same code
            last = digit
    return ("".join(code) + "000")[:4]


def bytes_reverse(value: bytes) -> bytes:
    return bytes(value)[::-1]


def bytes_left(value: bytes, length: int) -> bytes:
    if length < 0:
        raise ValueError(f"Second argument in LEFT() cannot be negative: {length}")
    return bytes(value)[:length]


def bytes_right(value: bytes, length: int) -> bytes:
    if length < 0:
        raise ValueError(f"Second argument in RIGHT() cannot be negative: {length}")
    return bytes(value)[len(value) - length :] if length else b""


def _pad(value: bytes, length: int, pattern: bytes, left: bool, name: str) -> bytes:
    if length < 0:
        raise ValueError(f"Second argument in {name}() cannot be negative: {length}")
    if not pattern:
        raise ValueError(f"Third argument in {name}() cannot be empty")
    value = bytes(value)
    if length <= len(value):
        return value[:length]
    fill = (bytes(pattern) * (length // len(pattern) + 1))[: length - len(value)]
    return fill + value if left else value + fill


def bytes_lpad(value: bytes, length: int, pattern: bytes) -> bytes:
    return _pad(value, length, pattern, True, "LPAD")


def bytes_rpad(value: bytes, length: int, pattern: bytes) -> bytes:
    return _pad(value, length, pattern, False, "RPAD")


def bytes_substr(value: bytes, position: int, length: int | None) -> bytes:
    value = bytes(value)
    if length is not None and length < 0:
        raise ValueError(f"Third argument in SUBSTR() cannot be negative: {length}")
    start = position - 1 if position > 0 else max(len(value) + position, 0)
    return value[start:] if length is None else value[start : start + length]


def bytes_trim(value: bytes, chars: bytes, where: str) -> bytes:
    value, chars = bytes(value), bytes(chars)
    if where in ("both", "left"):
        value = value.lstrip(chars)
    if where in ("both", "right"):
        value = value.rstrip(chars)
    return value


def bytes_split(value: bytes, delimiter: bytes) -> list[bytes]:
    value, delimiter = bytes(value), bytes(delimiter)
    if not delimiter:
        return [value[i : i + 1] for i in range(len(value))]
    return value.split(delimiter)


def bytes_repeat(value: bytes, times: int) -> bytes:
    if times < 0:
        raise ValueError(f"Second argument in REPEAT() cannot be negative: {times}")
    return bytes(value) * times


def bytes_replace(value: bytes, old: bytes, new: bytes) -> bytes:
    return bytes(value).replace(bytes(old), bytes(new)) if old else bytes(value)


def bytes_strpos(value: bytes, search: bytes) -> int:
    return bytes(value).find(bytes(search)) + 1


def bytes_bit_count(value: bytes) -> int:
    return sum(bin(b).count("1") for b in bytes(value))


def _same_length(a: bytes, b: bytes, op: str) -> None:
    if len(a) != len(b):
        raise ValueError(
            f"Bitwise binary operator {op} requires two byte strings of the same length"
        )


def bytes_and(a: bytes, b: bytes) -> bytes:
    _same_length(a, b, "&")
    return bytes(x & y for x, y in zip(bytes(a), bytes(b), strict=True))


def bytes_or(a: bytes, b: bytes) -> bytes:
    _same_length(a, b, "|")
    return bytes(x | y for x, y in zip(bytes(a), bytes(b), strict=True))


def bytes_xor(a: bytes, b: bytes) -> bytes:
    _same_length(a, b, "^")
    return bytes(x ^ y for x, y in zip(bytes(a), bytes(b), strict=True))


def bytes_not(a: bytes) -> bytes:
    return bytes(~x & 0xFF for x in bytes(a))


def _shift_bytes(a: bytes, n: int, left: bool) -> bytes:
    if n < 0:
        raise ValueError("Bit shift by negative offset")
    bits = len(a) * 8
    value = int.from_bytes(bytes(a), "big")
    value = (value << n) if left else (value >> n)
    return (value & ((1 << bits) - 1)).to_bytes(len(a), "big") if bits else b""


def bytes_shift_left(a: bytes, n: int) -> bytes:
    return _shift_bytes(a, n, True)


def bytes_shift_right(a: bytes, n: int) -> bytes:
    return _shift_bytes(a, n, False)


def int_shift_left(a: int, n: int) -> int:
    if n < 0:
        raise ValueError("Bit shift by negative offset")
    return 0 if n >= 64 else _signed((a << n) & _MASK)


def int_shift_right(a: int, n: int) -> int:
    if n < 0:
        raise ValueError("Bit shift by negative offset")
    return 0 if n >= 64 else _signed((a & _MASK) >> n)


def instr(value: str, search: str, position: int, occurrence: int) -> int:
    """INSTR with a position (negative counts from the end, searching backwards)."""
    if position == 0:
        raise ValueError("Third argument in INSTR() cannot be 0")
    if occurrence <= 0:
        raise ValueError("Fourth argument in INSTR() must be positive")
    found = 0
    if position > 0:
        start = position - 1
        while True:
            index = value.find(search, start)
            if index < 0:
                return 0
            found += 1
            if found == occurrence:
                return index + 1
            start = index + 1
    end = len(value) + position + len(search)
    while True:
        index = value.rfind(search, 0, end)
        if index < 0:
            return 0
        found += 1
        if found == occurrence:
            return index + 1
        end = index + len(search) - 1


def regexp_instr(value: str, pattern: str, position: int, occurrence: int, mode: int) -> int:
    if position <= 0:
        raise ValueError("Invalid position in REGEXP_INSTR")
    if occurrence <= 0:
        raise ValueError("Invalid occurrence in REGEXP_INSTR")
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise ValueError(f"Cannot parse regular expression: {error}") from None
    if regex.groups > 1:
        raise ValueError("Regular expressions passed into extraction functions must not have more than 1 capturing group")
    matches = list(regex.finditer(value, position - 1))
    if len(matches) < occurrence:
        return 0
    match = matches[occurrence - 1]
    group = 1 if regex.groups else 0
    return (match.end(group) if mode else match.start(group)) + 1


# --- numbers ------------------------------------------------------------------------------------

_NUMERIC_TEXT = re.compile(r"^\s*([+-]?)\s*(\d*\.?\d*(?:[eE][+-]?\d+)?)\s*([+-]?)\s*$")


def _parse_decimal(text: str, scale: int, int_digits: int, kind: str) -> decimal.Decimal:
    match = _NUMERIC_TEXT.match(text)
    if not match or not re.search(r"\d", match.group(2)) or (match.group(1) and match.group(3)):
        raise ValueError(f"Invalid {kind} value: {text}")
    sign = "-" if "-" in (match.group(1) + match.group(3)) else ""
    value = decimal.Decimal(sign + match.group(2)).quantize(
        decimal.Decimal(1).scaleb(-scale), rounding=decimal.ROUND_HALF_UP
    )
    if abs(value) >= decimal.Decimal(10) ** int_digits:
        raise ValueError(f"Invalid {kind} value: {text}")
    return value


def _without_group_commas(text: str) -> str:
    """Commas may stand anywhere in the integer part (``1,2,,3,.45``)."""
    head, dot, tail = text.partition(".")
    return head.replace(",", "") + dot + tail


def parse_numeric(text: str) -> decimal.Decimal:
    return _parse_decimal(_without_group_commas(text), 9, 29, "NUMERIC")


def parse_bignumeric(text: str) -> decimal.Decimal:
    return _parse_decimal(_without_group_commas(text), 18, 20, "BIGNUMERIC")


_INT64_TEXT = re.compile(r"^\s*([+-]?)\s*(0[xX][0-9a-fA-F]+|\d+)\s*$")


def string_to_int64(text: str) -> int:
    """CAST(STRING AS INT64): decimal or hexadecimal digits, an optional sign."""
    match = _INT64_TEXT.match(text)
    if not match:
        raise ValueError(f"Bad int64 value: {text}")
    digits = match.group(2)
    value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits)
    value = -value if match.group(1) == "-" else value
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"Bad int64 value: {text}")
    return value


def string_to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"Bad bool value: {text}")
    return lowered == "true"


# --- HLL_COUNT: sketches are exact sets of 64-bit fingerprints, not HLL++ sketches -----------


def _sketch(hashes: set[int]) -> bytes:
    return b"".join(h.to_bytes(8, "big") for h in sorted(hashes))


def _hashes(sketch: bytes) -> set[int]:
    data = bytes(sketch)
    if len(data) % 8:
        raise ValueError("Invalid HLL sketch")
    return {int.from_bytes(data[i : i + 8], "big") for i in range(0, len(data), 8)}


def hll_init(values: list) -> bytes | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return _sketch({fingerprint64(v.encode()) for v in present})


def hll_merge_partial(sketches: list) -> bytes | None:
    present = [s for s in sketches if s is not None]
    if not present:
        return None
    return _sketch(set().union(*(_hashes(s) for s in present)))


def hll_merge(sketches: list) -> int:
    merged = hll_merge_partial(sketches)
    return 0 if merged is None else len(merged) // 8


def hll_extract(sketch: bytes) -> int:
    return len(_hashes(sketch))


# --- text of values ----------------------------------------------------------------------------


def float_to_string(value: float) -> str:
    """BigQuery's CAST(FLOAT64 AS STRING): 15 significant digits when they round-trip, else 17;
    ``inf``, ``-inf``, ``nan``."""
    if value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.15g}"
    if float(text) != value:
        text = f"{value:.17g}"
    return text


def float_literal(text: str) -> str:
    """FORMAT('%T') of a FLOAT64, given its STRING text."""
    if text in ("nan", "inf", "-inf"):
        return f'CAST("{text}" AS FLOAT64)'
    return text if any(c in text for c in ".en") else text + ".0"


def decimal_to_string(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def bytes_literal_body(value: bytes) -> str:
    out = []
    for b in bytes(value):
        ch = chr(b)
        if ch in "\\\"":
            out.append("\\" + ch)
        elif 32 <= b < 127:
            out.append(ch)
        else:
            out.append({9: "\\t", 10: "\\n", 13: "\\r"}.get(b, f"\\x{b:02x}"))
    return "".join(out)


_DUCK_INTERVAL = re.compile(
    r"^(?:(-?\d+) years?)?\s*(?:(-?\d+) months?)?\s*(?:(-?\d+) days?)?\s*"
    r"(?:(-?)(\d+):(\d+):(\d+)(?:\.(\d+))?)?$"
)


def interval_text(months: int, days: int, micros: int) -> str:
    """BigQuery's canonical INTERVAL text: ``[-]Y-M [-]D [-]H:M:S[.F]``."""
    sign = "-" if months < 0 else ""
    years, rest = divmod(abs(months), 12)
    time_sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{sign}{years}-{rest} {days} {time_sign}{hours}:{minutes}:{seconds}"
    return text + (f".{fraction:06d}".rstrip("0") if fraction else "")


def interval_to_string(duckdb_text: str) -> str:
    """An INTERVAL as DuckDB prints it (``1 year 2 months 3 days 04:05:06``) in BigQuery's
    canonical form."""
    return interval_text(*_duck_interval_parts(duckdb_text))


def timestamp_to_string(value: Any, zone: str) -> str:
    """STRING(TIMESTAMP, zone): ``2008-12-25 07:30:00-08`` (fraction and minutes as needed)."""
    import datetime as dt
    import zoneinfo

    try:
        tz = _fixed_offset(zone) or zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Invalid time zone: {zone}") from None
    local = value.astimezone(tz)
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    if local.microsecond:
        text += f".{local.microsecond:06d}".rstrip("0")
    offset = local.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return text + f"{sign}{hours:02d}" + (f":{minutes:02d}" if minutes else "")


def _fixed_offset(zone: str) -> Any:
    import datetime as dt

    match = re.fullmatch(r"(?:UTC)?([+-])(\d{1,2})(?::?(\d{2}))?", zone.strip())
    if not match:
        return None
    delta = dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
    return dt.timezone(-delta if match.group(1) == "-" else delta)


def _duck_interval_parts(duckdb_text: str) -> tuple[int, int, int]:
    match = _DUCK_INTERVAL.match(duckdb_text.strip())
    if not match:
        raise ValueError(f"Invalid interval: {duckdb_text}")
    years, months, days, neg, hours, minutes, seconds, fraction = match.groups()
    micros = (int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)) * 1_000_000
    micros += int((fraction or "0").ljust(6, "0")[:6])
    return int(years or 0) * 12 + int(months or 0), int(days or 0), -micros if neg else micros


def _duck_text(months: int, days: int, micros: int) -> str:
    return f"{months} months {days} days {micros} microseconds"


_CANONICAL_INTERVAL = re.compile(
    r"^\s*(-?)(\d+)-(\d+)\s+(-?\d+)\s+(-?)(\d+):(\d+):(\d+)(?:\.(\d{1,9}))?\s*$"
)
_ISO_INTERVAL = re.compile(
    r"^\s*P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)W)?(?:(-?\d+)D)?"
    r"(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+(?:\.\d{1,9})?)S)?)?\s*$"
)


_PARTIAL_INTERVALS = [
    (re.compile(r"^\s*(-?)(\d+)-(\d+)\s*$"), "ym"),
    (re.compile(r"^\s*(-?)(\d+):(\d+):(\d+)(?:\.(\d{1,9}))?\s*$"), "hms"),
    (re.compile(r"^\s*(-?)(\d+)-(\d+)\s+(-?\d+)\s*$"), "ymd"),
]


def interval_from_string(text: str) -> str:
    """CAST(STRING AS INTERVAL): the canonical ``Y-M D H:M:S.F`` form (or its Y-M, Y-M D and
    H:M:S parts) or ISO 8601 ``P...``."""
    for pattern, shape in _PARTIAL_INTERVALS:
        match = pattern.match(text)
        if not match:
            continue
        sign = -1 if match.group(1) else 1
        if shape == "hms":
            _, hours, minutes, seconds, fraction = match.groups()
            micros = (int(hours) * 3600 + int(minutes) * 60 + int(seconds)) * 1_000_000
            micros += int((fraction or "0").ljust(6, "0")[:6])
            return _duck_text(0, 0, sign * micros)
        months = sign * (int(match.group(2)) * 12 + int(match.group(3)))
        return _duck_text(months, int(match.group(4)) if shape == "ymd" else 0, 0)
    text = text.replace(",", ".") if text.strip().startswith("P") else text
    match = _CANONICAL_INTERVAL.match(text)
    if match:
        sign, years, months, days, tsign, hours, minutes, seconds, fraction = match.groups()
        total = (int(years) * 12 + int(months)) * (-1 if sign else 1)
        micros = (int(hours) * 3600 + int(minutes) * 60 + int(seconds)) * 1_000_000
        micros += int((fraction or "0").ljust(6, "0")[:6])
        return _duck_text(total, int(days), -micros if tsign else micros)
    match = _ISO_INTERVAL.match(text)
    if match and any(match.groups()):
        y, mo, w, d, h, mi, sec = (g or "0" for g in match.groups())
        micros = int(h) * 3_600_000_000 + int(mi) * 60_000_000 + round(float(sec) * 1e6)
        return _duck_text(int(y) * 12 + int(mo), int(w) * 7 + int(d), micros)
    raise ValueError(f"Invalid interval literal: '{text}'")


def _trunc_div(value: int, by: int) -> tuple[int, int]:
    quotient = abs(value) // by * (1 if value >= 0 else -1)
    return quotient, value - quotient * by


def justify(duckdb_text: str, what: str) -> str:
    """JUSTIFY_DAYS (30 days -> a month), JUSTIFY_HOURS (24 hours -> a day), or both."""
    months, days, micros = _duck_interval_parts(duckdb_text)
    if what in ("hours", "interval"):
        more_days, micros = _trunc_div(micros, 86_400_000_000)
        days += more_days
    if what in ("days", "interval"):
        more_months, days = _trunc_div(days, 30)
        months += more_months
    return _duck_text(months, days, micros)


# --- NET ---------------------------------------------------------------------------------------


def ip_from_string(text: str) -> bytes:
    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        raise ValueError(f"Unparseable IP address: {text}") from None


def safe_ip_from_string(text: str) -> bytes | None:
    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        return None


def ip_to_string(value: bytes) -> str:
    value = bytes(value)
    if len(value) == 4:
        return str(ipaddress.IPv4Address(value))
    if len(value) == 16:
        address = ipaddress.IPv6Address(value)
        mapped = address.ipv4_mapped
        return f"::ffff:{mapped}" if mapped is not None else str(address)
    raise ValueError(f"Invalid IP address length: {len(value)}")


def ip_net_mask(length: int, prefix: int) -> bytes:
    if length not in (4, 16) or not 0 <= prefix <= length * 8:
        raise ValueError(f"Invalid arguments to NET.IP_NET_MASK: {length}, {prefix}")
    bits = length * 8
    return (((1 << prefix) - 1) << (bits - prefix)).to_bytes(length, "big")


def ip_trunc(value: bytes, prefix: int) -> bytes:
    value = bytes(value)
    if len(value) not in (4, 16) or not 0 <= prefix <= len(value) * 8:
        raise ValueError(f"Invalid arguments to NET.IP_TRUNC: {prefix}")
    mask = ip_net_mask(len(value), prefix)
    return bytes(a & b for a, b in zip(value, mask, strict=True))


def ipv4_from_int64(value: int) -> bytes:
    if -(1 << 31) <= value < 0:
        value &= 0xFFFFFFFF
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"Invalid IPv4 address: {value}")
    return value.to_bytes(4, "big")


def ipv4_to_int64(value: bytes) -> int:
    value = bytes(value)
    if len(value) != 4:
        raise ValueError(f"Invalid IPv4 address length: {len(value)}")
    return int.from_bytes(value, "big")


_URL = re.compile(r"^\s*(?:[A-Za-z][A-Za-z0-9+.-]*:)?(?://)?(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)")


def host(url: str) -> str | None:
    match = _URL.match(url)
    name = match.group(1) if match else ""
    return name or None


# A small public suffix list: the suffixes of the reference's examples and the common ones.
_PUBLIC_SUFFIXES = frozenset(
    """com org net edu gov mil int io co uk co.uk org.uk ac.uk gov.uk de fr jp co.jp ne.jp
    cn com.cn us ca au com.au net.au org.au nz co.nz br com.br in co.in ru it es nl se no
    dk fi pl ch at be cz pt gr ie il co.il kr co.kr tw com.tw hk com.hk sg com.sg mx com.mx ar
    com.ar za co.za info biz name app dev ai me tv cc ly github.io blogspot.com
    appspot.com""".split()
)


def public_suffix(url: str) -> str | None:
    name = _host_name(url)
    if name is None:
        return None
    labels = name.split(".")
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        if candidate in _PUBLIC_SUFFIXES:
            return candidate
    return None


def reg_domain(url: str) -> str | None:
    name = _host_name(url)
    suffix = public_suffix(url)
    if name is None or suffix is None or name == suffix:
        return None
    labels = name[: -len(suffix) - 1].split(".")
    return f"{labels[-1]}.{suffix}" if labels[-1] else None


def _host_name(url: str) -> str | None:
    name = host(url)
    if name is None or name.startswith("["):
        return None
    name = name.lower().rstrip(".")
    try:
        ipaddress.ip_address(name)
        return None
    except ValueError:
        return name or None


def sparse_distance(keys1: list, values1: list, keys2: list, values2: list, kind: str) -> float:
    """COSINE_DISTANCE / EUCLIDEAN_DISTANCE of two sparse vectors (a missing key is 0)."""
    vectors = []
    for keys, values in ((keys1, values1), (keys2, values2)):
        if any(k is None for k in keys) or any(v is None for v in values):
            raise ValueError(f"Cannot compute {kind} distance with a NULL element")
        if len(set(keys)) != len(keys):
            raise ValueError(f"Cannot compute {kind} distance with duplicate keys in a vector")
        vectors.append(dict(zip(keys, values, strict=True)))
    a, b = vectors
    if kind == "euclidean":
        return math.sqrt(sum((a.get(k, 0.0) - b.get(k, 0.0)) ** 2 for k in a.keys() | b.keys()))
    norm_a, norm_b = math.sqrt(sum(v * v for v in a.values())), math.sqrt(sum(v * v for v in b.values()))
    if norm_a == 0 or norm_b == 0:
        raise ValueError("Cannot compute cosine distance against zero vector.")
    return 1 - sum(v * b.get(k, 0.0) for k, v in a.items()) / (norm_a * norm_b)


# --- RANGE --------------------------------------------------------------------------------------

_RANGE_TEXT = re.compile(r"\[\s*([^,\[\]()]*?)\s*,\s*([^,\[\]()]*?)\s*\)")


def range_parts(text: str) -> list[str | None]:
    """``[start, end)`` -> [start, end] as text, UNBOUNDED and NULL bounds as None."""
    match = _RANGE_TEXT.fullmatch(text.strip())
    if not match or not match.group(1) or not match.group(2):
        raise ValueError(f"Invalid RANGE literal: {text}; expected '[lower_bound, upper_bound)'")
    return [None if b.upper() in ("UNBOUNDED", "NULL") else b for b in match.groups()]


# --- registry -----------------------------------------------------------------------------------

# Functions given NULL arguments themselves (the others return NULL for any NULL argument).
_SEE_NULLS = {"bq_hll_init", "bq_hll_merge_partial", "bq_code_points_to_string", "bq_code_points_to_bytes", "bq_net_host",
              "bq_net_public_suffix", "bq_net_reg_domain", "bq_net_safe_ip_from_string"}  # fmt: skip

# name -> (function, parameter types, return type)
FUNCTIONS: dict[str, tuple[Callable[..., Any], list[str], str]] = {
    "bq_fail": (fail, ["VARCHAR"], "VARCHAR"),
    "bq_sha512": (lambda v: hashlib.sha512(v.encode()).digest(), ["VARCHAR"], "BLOB"),
    "bq_sha512_bytes": (lambda v: hashlib.sha512(bytes(v)).digest(), ["BLOB"], "BLOB"),
    "bq_hll_init": (hll_init, ["VARCHAR[]"], "BLOB"),
    "bq_hll_merge_partial": (hll_merge_partial, ["BLOB[]"], "BLOB"),
    "bq_hll_merge": (hll_merge, ["BLOB[]"], "BIGINT"),
    "bq_hll_extract": (hll_extract, ["BLOB"], "BIGINT"),
    "bq_bytes_join": (lambda items, sep: bytes(sep).join(bytes(i) for i in items if i is not None),
                      ["BLOB[]", "BLOB"], "BLOB"),  # fmt: skip
    "bq_farm_fingerprint": (farm_fingerprint, ["VARCHAR"], "BIGINT"),
    "bq_farm_fingerprint_bytes": (farm_fingerprint, ["BLOB"], "BIGINT"),
    "bq_to_code_points": (to_code_points, ["VARCHAR"], "BIGINT[]"),
    "bq_to_code_points_bytes": (to_code_points, ["BLOB"], "BIGINT[]"),
    "bq_code_points_to_string": (code_points_to_string, ["BIGINT[]"], "VARCHAR"),
    "bq_code_points_to_bytes": (code_points_to_bytes, ["BIGINT[]"], "BLOB"),
    "bq_chr": (chr_, ["BIGINT"], "VARCHAR"),
    "bq_safe_convert_bytes_to_string": (safe_convert_bytes_to_string, ["BLOB"], "VARCHAR"),
    "bq_to_base32": (to_base32, ["BLOB"], "VARCHAR"),
    "bq_from_base32": (from_base32, ["VARCHAR"], "BLOB"),
    "bq_normalize": (normalize, ["VARCHAR", "VARCHAR"], "VARCHAR"),
    "bq_normalize_and_casefold": (normalize_and_casefold, ["VARCHAR", "VARCHAR"], "VARCHAR"),
    "bq_soundex": (soundex, ["VARCHAR"], "VARCHAR"),
    "bq_bytes_reverse": (bytes_reverse, ["BLOB"], "BLOB"),
    "bq_bytes_left": (bytes_left, ["BLOB", "BIGINT"], "BLOB"),
    "bq_bytes_right": (bytes_right, ["BLOB", "BIGINT"], "BLOB"),
    "bq_bytes_lpad": (bytes_lpad, ["BLOB", "BIGINT", "BLOB"], "BLOB"),
    "bq_bytes_rpad": (bytes_rpad, ["BLOB", "BIGINT", "BLOB"], "BLOB"),
    "bq_bytes_substr": (bytes_substr, ["BLOB", "BIGINT", "BIGINT"], "BLOB"),
    "bq_bytes_trim": (bytes_trim, ["BLOB", "BLOB", "VARCHAR"], "BLOB"),
    "bq_bytes_split": (bytes_split, ["BLOB", "BLOB"], "BLOB[]"),
    "bq_bytes_repeat": (bytes_repeat, ["BLOB", "BIGINT"], "BLOB"),
    "bq_bytes_replace": (bytes_replace, ["BLOB", "BLOB", "BLOB"], "BLOB"),
    "bq_bytes_strpos": (bytes_strpos, ["BLOB", "BLOB"], "BIGINT"),
    "bq_bytes_bit_count": (bytes_bit_count, ["BLOB"], "BIGINT"),
    "bq_bytes_and": (bytes_and, ["BLOB", "BLOB"], "BLOB"),
    "bq_bytes_or": (bytes_or, ["BLOB", "BLOB"], "BLOB"),
    "bq_bytes_xor": (bytes_xor, ["BLOB", "BLOB"], "BLOB"),
    "bq_bytes_not": (bytes_not, ["BLOB"], "BLOB"),
    "bq_bytes_shift_left": (bytes_shift_left, ["BLOB", "BIGINT"], "BLOB"),
    "bq_bytes_shift_right": (bytes_shift_right, ["BLOB", "BIGINT"], "BLOB"),
    "bq_shift_left": (int_shift_left, ["BIGINT", "BIGINT"], "BIGINT"),
    "bq_shift_right": (int_shift_right, ["BIGINT", "BIGINT"], "BIGINT"),
    "bq_instr": (instr, ["VARCHAR", "VARCHAR", "BIGINT", "BIGINT"], "BIGINT"),
    "bq_regexp_instr": (regexp_instr, ["VARCHAR", "VARCHAR", "BIGINT", "BIGINT", "BIGINT"],
                        "BIGINT"),  # fmt: skip
    "bq_parse_numeric": (parse_numeric, ["VARCHAR"], "DECIMAL(38,9)"),
    "bq_string_to_int64": (string_to_int64, ["VARCHAR"], "BIGINT"),
    "bq_string_to_bool": (string_to_bool, ["VARCHAR"], "BOOLEAN"),
    "bq_parse_bignumeric": (parse_bignumeric, ["VARCHAR"], "DECIMAL(38,18)"),
    "bq_float_to_string": (float_to_string, ["DOUBLE"], "VARCHAR"),
    "bq_float_literal": (float_literal, ["VARCHAR"], "VARCHAR"),
    "bq_decimal_to_string": (decimal_to_string, ["VARCHAR"], "VARCHAR"),
    "bq_bytes_literal_body": (bytes_literal_body, ["BLOB"], "VARCHAR"),
    "bq_interval_to_string": (interval_to_string, ["VARCHAR"], "VARCHAR"),
    "bq_timestamp_to_string": (timestamp_to_string, ["TIMESTAMPTZ", "VARCHAR"], "VARCHAR"),
    "bq_interval_from_string": (interval_from_string, ["VARCHAR"], "VARCHAR"),
    "bq_justify": (justify, ["VARCHAR", "VARCHAR"], "VARCHAR"),
    "bq_net_ip_from_string": (ip_from_string, ["VARCHAR"], "BLOB"),
    "bq_net_safe_ip_from_string": (safe_ip_from_string, ["VARCHAR"], "BLOB"),
    "bq_net_ip_to_string": (ip_to_string, ["BLOB"], "VARCHAR"),
    "bq_net_ip_net_mask": (ip_net_mask, ["BIGINT", "BIGINT"], "BLOB"),
    "bq_net_ip_trunc": (ip_trunc, ["BLOB", "BIGINT"], "BLOB"),
    "bq_net_ipv4_from_int64": (ipv4_from_int64, ["BIGINT"], "BLOB"),
    "bq_net_ipv4_to_int64": (ipv4_to_int64, ["BLOB"], "BIGINT"),
    "bq_net_host": (host, ["VARCHAR"], "VARCHAR"),
    "bq_range_parts": (range_parts, ["VARCHAR"], "VARCHAR[]"),
    "bq_sparse_distance": (sparse_distance, ["VARCHAR[]", "DOUBLE[]", "VARCHAR[]", "DOUBLE[]",
                                             "VARCHAR"], "DOUBLE"),  # fmt: skip
    "bq_upper": (str.upper, ["VARCHAR"], "VARCHAR"),
    "bq_lower": (str.lower, ["VARCHAR"], "VARCHAR"),
    "bq_bytes_upper": (lambda v: bytes(v).upper(), ["BLOB"], "BLOB"),
    "bq_bytes_lower": (lambda v: bytes(v).lower(), ["BLOB"], "BLOB"),
    "bq_net_public_suffix": (public_suffix, ["VARCHAR"], "VARCHAR"),
    "bq_net_reg_domain": (reg_domain, ["VARCHAR"], "VARCHAR"),
}


FUNCTIONS.update(json_udfs.FUNCTIONS)
FUNCTIONS.update(format_udfs.FUNCTIONS)
_SEE_NULLS |= json_udfs.RETURN_NULLS


def register(con: Any) -> None:
    """Create every ``bq_*`` function on a DuckDB connection (its cursors see them too)."""
    for name, (function, params, returns) in FUNCTIONS.items():
        nulls = "special" if name in _SEE_NULLS else "default"
        con.create_function(
            name, _none_in_none_out(function) if nulls == "special" else function, params,
            returns, null_handling=nulls, side_effects=False,
        )  # fmt: skip
    jsudf.register(con)  # bq_js_call: JavaScript UDFs


def _none_in_none_out(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def call(value: Any) -> Any:  # one argument: DuckDB checks the arity
        return None if value is None else function(value)

    return call
