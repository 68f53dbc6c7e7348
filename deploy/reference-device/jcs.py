"""RFC 8785 JSON Canonicalization Scheme (JCS), the encoding edgekd manifest signatures cover.

Input is what json.loads returns. Numbers are IEEE 754 doubles written the way ECMAScript's
Number.prototype.toString writes them; strings escape only '"', '\\' and U+0000..U+001F;
object members are sorted by the UTF-16 code units of their names.
"""
import math

_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


class CanonicalJsonError(ValueError):
    pass


def number(x):
    """ECMAScript Number::toString for a finite double (RFC 8785 section 3.2.2.3)."""
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        raise CanonicalJsonError("NaN and Infinity have no JSON form")
    if x == 0:
        return "0"  # also -0
    sign, text = ("-", repr(-x)) if x < 0 else ("", repr(x))
    # repr() gives the shortest digits that round-trip; only the layout differs from ECMAScript.
    mantissa, _, exp = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + int(exp or 0) - (len(whole + frac) - len((whole + frac).lstrip("0")))
    digits = digits.rstrip("0")
    k, n = len(digits), point  # value = 0.digits * 10^n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e > 0 else "-") + str(abs(e))


def string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if 0xD800 <= c <= 0xDFFF:
            raise CanonicalJsonError("lone UTF-16 surrogate in a string")
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c < 0x20:
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canonicalize(value):
    """The canonical text of a JSON value; encode it as UTF-8 to get the signed bytes."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonicalize(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(string(k) + ":" + canonicalize(value[k]) for k in keys) + "}"
    raise CanonicalJsonError("no JSON form for %r" % type(value).__name__)
