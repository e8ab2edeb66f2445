"""PII redaction: e-mail addresses, phone numbers, IBANs, credit-card numbers, IP addresses, national
identifiers (US SSN, UK National Insurance number, Canadian SIN, Spanish DNI/NIE), and user patterns.

Each match is replaced by a typed placeholder (``<EMAIL>``, ``<PHONE>``, ``<IBAN>``, ``<CREDIT_CARD>``,
``<IP_ADDRESS>``, ``<US_SSN>``, ``<UK_NINO>``, ``<CA_SIN>``, ``<ES_DNI>``, ``<NAME>`` for a user pattern named
``name``). Candidates are checked before they are replaced: IBANs by their mod-97 checksum, card numbers and
SINs by the Luhn checksum, SSNs by the SSA's rules (no area 000, 666 or 9xx, no group 00, no serial 0000),
NINOs by HMRC's prefix rules, DNI/NIE by their mod-23 letter, IP addresses by ``ipaddress``, so order numbers
and version strings are left alone. Text without any candidate is returned as the very same object: clean
data passes through unchanged.

Not caught by these patterns: person names, postal addresses, dates of birth, and identifiers of other
countries. Add a ``pii_patterns`` entry for an identifier of your own.

Speed: the detectors only run on text that could hold a match (an ``@``, enough digits, two colons), found
with ``str.count``/``in`` scans in C; most training text never reaches a regex.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Mapping

EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
CARD = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
IPV6 = re.compile(r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?"
                  r"(?![0-9A-Za-z:])")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = re.compile(rf"(?<![0-9.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9]|\.[0-9])")
PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?){2,5}"  # international: +44 20 7946 0958, +1 (415) 555-0100
    r"|\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4}"  # North American: (415) 555-0100, 415.555.0100
    r"|0[0-9]{1,4}(?:[ .-]?[0-9]{2,4}){2,4}"  # national trunk prefix: 030 1234567, 06 12 34 56 78
    r")(?![0-9])"
)
# National identifiers, in their written forms (separators required where bare digits would be ambiguous).
US_SSN = re.compile(r"(?<![\w-])([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})(?![\w-])")
UK_NINO = re.compile(r"(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]"
                     r"(?![A-Za-z0-9])")
CA_SIN = re.compile(r"(?<![\w-])[0-9]{3}([- ])[0-9]{3}\1[0-9]{3}(?![\w-])")
ES_DNI = re.compile(r"(?<![A-Za-z0-9])[XYZ0-9][0-9]{7}-?[A-Z](?![A-Za-z0-9])")
_CANDIDATE_V6 = re.compile(r":[0-9A-Fa-f]*:")
_CANDIDATE_V6_BYTES = re.compile(rb":[0-9A-Fa-f]*:")

BUILTIN = ("EMAIL", "IBAN", "CREDIT_CARD", "IP_ADDRESS", "US_SSN", "UK_NINO", "CA_SIN", "ES_DNI", "PHONE")
DESCRIPTIONS = {
    "EMAIL": "e-mail addresses",
    "IBAN": "IBANs (mod-97 checksum)",
    "CREDIT_CARD": "payment card numbers, 13-19 digits (Luhn checksum)",
    "IP_ADDRESS": "IPv4 and IPv6 addresses",
    "US_SSN": "US Social Security numbers, 123-45-6789 (SSA area/group/serial rules)",
    "UK_NINO": "UK National Insurance numbers, AB 12 34 56 C (HMRC prefix rules)",
    "CA_SIN": "Canadian Social Insurance numbers, 130-692-544 (Luhn checksum; 0 and 8 unassigned)",
    "ES_DNI": "Spanish DNI/NIE, 12345678Z / X1234567L (mod-23 letter)",
    "PHONE": "phone numbers: international +..., North American, national 0...",
}
_NINO_BAD_PREFIX = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(compact: str) -> bool:
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _digits(s: str) -> int:
    return sum(map(s.count, "0123456789"))


class Redactor:
    """Replace PII in strings by typed placeholders and count what was replaced (never what it was)."""

    def __init__(self, patterns: Mapping[str, str] | None = None):
        self.user: list[tuple[str, re.Pattern[str]]] = []
        for name, pattern in (patterns or {}).items():
            self.user.append((name.upper(), re.compile(pattern)))
        self.counts: Counter[str] = Counter()

    def could_contain(self, text: str) -> bool:
        """True when ``text`` may hold PII; False means :meth:`redact` would return it unchanged."""
        if self.user:
            return True
        return "@" in text or _digits(text) >= 4 or _CANDIDATE_V6.search(text) is not None

    def could_contain_line(self, line: bytes) -> bool:
        """Like :meth:`could_contain` for a whole canonical JSON line (UTF-8, non-ASCII unescaped): every
        pattern is ASCII, so a line without candidates has no field with one."""
        if self.user:
            return True
        return (b"@" in line or len(line) - len(line.translate(None, b"0123456789")) >= 4
                or _CANDIDATE_V6_BYTES.search(line) is not None)

    def redact(self, text: str, counts: Counter[str] | None = None) -> str:
        """``text`` with PII replaced; ``counts`` (default: this redactor's) gets one per replacement."""
        counts = self.counts if counts is None else counts
        out = text
        for name, rx in self.user:
            out = _sub(rx, out, name, counts, None)
        if "@" in out:
            out = _sub(EMAIL, out, "EMAIL", counts, None)
        digits = _digits(out)
        if digits >= 12:
            out = _sub(IBAN, out, "IBAN", counts, _iban_span)
            out = _sub(CARD, out, "CREDIT_CARD", counts, _card_ok)
        if _CANDIDATE_V6.search(out):
            out = _sub(IPV6, out, "IP_ADDRESS", counts, _ipv6_ok)
        if digits >= 4 and "." in out:
            out = _sub(IPV4, out, "IP_ADDRESS", counts, None)
        if digits >= 6:  # national identifiers before phones: "078-05-1120" is also phone-shaped
            out = _sub(US_SSN, out, "US_SSN", counts, _ssn_ok)
            out = _sub(UK_NINO, out, "UK_NINO", counts, _nino_ok)
            out = _sub(CA_SIN, out, "CA_SIN", counts, _sin_ok)
            out = _sub(ES_DNI, out, "ES_DNI", counts, _dni_ok)
        if digits >= 7:
            out = _sub(PHONE, out, "PHONE", counts, _phone_ok)
        return text if out == text else out


def _sub(rx: re.Pattern[str], text: str, name: str, counts: Counter[str],
         check: Callable[[str], int | bool] | None) -> str:
    placeholder = f"<{name}>"

    def repl(m: re.Match[str]) -> str:
        s = m.group(0)
        if check is None:
            counts[name] += 1
            return placeholder
        keep = check(s)
        if keep is True:
            counts[name] += 1
            return placeholder
        if keep:  # a prefix of this length is the match (IBAN followed by more capitals/digits)
            counts[name] += 1
            return placeholder + s[keep:]
        return s

    return rx.sub(repl, text)


def _card_ok(s: str) -> bool:
    digits = s.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _iban_span(s: str) -> int | bool:
    """True if ``s`` is an IBAN; else the length of its longest prefix that is one; else False."""
    if iban_ok(s.replace(" ", "")):
        return True
    for end in range(len(s) - 1, 14, -1):
        if s[end - 1] != " " and iban_ok(s[:end].replace(" ", "")):
            return end
    return False


def _ssn_ok(s: str) -> bool:
    area, group, serial = s[:3], s[4:6], s[7:]
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


def _nino_ok(s: str) -> bool:
    return s[:2].upper() not in _NINO_BAD_PREFIX


def _sin_ok(s: str) -> bool:
    digits = s.replace(" ", "").replace("-", "")
    return digits[0] not in "08" and luhn_ok(digits)


def _dni_ok(s: str) -> bool:
    body = s.replace("-", "")
    number = "XYZ".index(body[0]) if body[0] in "XYZ" else None
    digits = (str(number) + body[1:8]) if number is not None else body[:8]
    return _DNI_LETTERS[int(digits) % 23] == body[8]


def _ipv6_ok(s: str) -> bool:
    if sum(c.isalnum() for c in s) < 2:
        return False
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return True


def _phone_ok(s: str) -> bool:
    n = _digits(s)
    if s.startswith("+"):
        return 8 <= n <= 15
    if s.startswith("0"):
        return 9 <= n <= 12
    return n == 10
