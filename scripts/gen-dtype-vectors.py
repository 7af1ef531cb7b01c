#!/usr/bin/python3
"""Writes core/test/dtype_vectors.txt: NumPy's own answer for np.dtype(s) on several thousand
strings, which core/test/test_dtype.c replays against shma_dtype_parse().

Run from anywhere, with the Debian python3 that has python3-numpy (1.24):

    /usr/bin/python3 scripts/gen-dtype-vectors.py            # rewrites core/test/dtype_vectors.txt
    /usr/bin/python3 scripts/gen-dtype-vectors.py OUT.txt    # writes elsewhere

The file is NumPy's truth, not ours: a string NumPy accepts is written "ok" even when the parser
deliberately rejects it (objects, structured dtypes, unsized flexible types, ...); the test holds
that list of deliberate differences.

Format, one string per line, fields separated by tabs:

    ESCAPED  ok  STR  ITEMSIZE  KIND      NumPy returned a dtype: its .str, .itemsize, .kind
    ESCAPED  err                          NumPy raised (or crashed; see the header)

ESCAPED is the string's UTF-8 bytes with every byte outside 0x21..0x7e, and '\\' and '#', written
as \\xHH (lower-case hex), so lines hold no spaces, tabs or comment markers. Lines starting with
'#' are comments. Strings with a NUL byte are left out: a C string cannot hold one.

Each string is passed to np.dtype() as bytes, which NumPy decodes as UTF-8 just as it would
receive it from C. Warnings (DeprecationWarning, FutureWarning) are suppressed: a dtype that
comes back counts as accepted. NumPy evaluates in a child process because a few strings
("M8[s/0]") crash the interpreter with SIGFPE; those are recorded as err and listed in the
header.
"""

import os
import platform
import random
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "core", "test", "dtype_vectors.txt")

ORDERS = ["<", ">", "=", "|", "!"]
KINDS = "biufcSaUVOMm"


# --------------------------------------------------------------------------------------------
# The NumPy side, run in a child process
# --------------------------------------------------------------------------------------------

def worker():
    """Reads hex-encoded strings from stdin, one per line; writes one answer line per string."""
    import warnings

    import numpy as np

    warnings.simplefilter("ignore")
    for line in sys.stdin:
        raw = bytes.fromhex(line.strip())
        try:
            d = np.dtype(raw)
            answer = "ok\t%s\t%d\t%s" % (escape(d.str.encode()), d.itemsize, escape(d.kind.encode()))
        except Exception:  # NumPy raises TypeError, ValueError, SyntaxError, ... on bad strings
            answer = "err"
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()


class NumPy:
    """A child running worker(), restarted when a string crashes it."""

    def __init__(self):
        self.proc = None
        self.crashed = []

    def _start(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, raw):
        if self.proc is None:
            self._start()
        self.proc.stdin.write(raw.hex() + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if answer:
            return answer.rstrip("\n")
        self.proc.wait()
        self.crashed.append((raw, self.proc.returncode))
        self.proc = None
        return "err"

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait()


def escape(raw):
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b not in b"\\#" else "\\x%02x" % b for b in raw)


def unescape(text):
    return re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes.fromhex(m.group(1).decode()), text.encode())


# --------------------------------------------------------------------------------------------
# Candidate strings
# --------------------------------------------------------------------------------------------

def names():
    import numpy as np

    listed = [k for k in np.sctypeDict if isinstance(k, str)]
    extra = """
        bool bool_ bool8 int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32
        float64 float128 longdouble complex64 complex128 complex256 clongdouble double single
        half float int complex byte ubyte short ushort intc uintc int_ uint long ulong longlong
        ulonglong intp uintp cfloat cdouble csingle longfloat clongfloat longcomplex
        singlecomplex str bytes unicode string string_ str_ bytes_ unicode_ void void0 object
        object_ object0 datetime64 timedelta64 datetime timedelta float96 float80 complex192
        complex160 int128 uint128 float8 int0 uint0 bytes0 str0 Bytes0 Str0 Uint32 Uint64
        Int8 Int32 Datetime64 Timedelta64 Object0 Void0 Float64 Int64 Bool char uchar
        longlong_ float64_ np.float64 numpy.float64 numpy.int32 f8_ half_ intp_ ssize_t size_t
        int8_t uint8_t float_t double_t boolean integer number floating signedinteger
        unsignedinteger complexfloating inexact generic flexible character object_0 bool1
    """.split()
    seen = list(dict.fromkeys(listed + extra))
    out = []
    for n in seen:
        out += [n, n.upper(), n.capitalize(), n.swapcase(), " " + n, n + " ", n + "\t", "\t" + n,
                n + "\n", n + "_", n + "0", n + "8", n + "[ns]", n + ",", n + "x"]
        out += [o + n for o in ORDERS]
    return out


def codes():
    out = [chr(c) for c in range(1, 128)]
    out += ["\u00e9", "\u03bc", "\u00ff", "\u00a0", "\u2028", "\U0001f600", "\uff46", "\u017f"]
    out += [o + c for o in ORDERS for c in out if c.isprintable() or ord(c) < 0x80]
    out += [o1 + o2 for o1 in ORDERS for o2 in ORDERS] + [o1 + o2 + "f8" for o1 in ORDERS for o2 in ORDERS]
    out += ["@f8", "^f8", "&f8", "+f8", "-f8", "~f8", "@i4", "^d", "!d", "!S5"]
    return out


BIG = [40, 48, 63, 64, 65, 100, 127, 128, 255, 256, 1000, 1024, 4096, 65535, 65536, 10**6,
       10**8, 10**9, 2**29 - 1, 2**29, 2**29 + 1, 2**30 - 1, 2**30, 2**30 + 1, 2**31 - 1, 2**31,
       2**31 + 1, 2**32 - 1, 2**32, 2**32 + 1, 2**32 + 8, 2**33, 2**63 - 1, 2**63, 2**64,
       10**20, 99999999999999999999]


def kind_sizes():
    out = []
    letters = [chr(c) for c in range(0x21, 0x7F) if chr(c).isalpha() or chr(c) in "?@_"]
    out += [k + str(n) for k in letters for n in range(34)]
    out += [o + k + str(n) for o in ORDERS for k in KINDS for n in range(34)]
    out += [o + k + str(n) for o in [""] + ORDERS for k in KINDS for n in BIG]
    out += [k + "-" + str(n) for k in KINDS for n in [0, 1, 4, 8, 2**31 - 1, 2**31, 2**32 - 1,
                                                       2**32 - 8, 2**32 + 1, 2**32 + 8]]
    return out


def number_forms():
    out = []
    for k, n in [("f", "8"), ("i", "4"), ("u", "2"), ("c", "16"), ("b", "1"), ("S", "5"),
                 ("U", "3"), ("V", "16"), ("O", "8"), ("M", "8"), ("a", "2")]:
        for form in [" %s", "  %s", "+%s", "-%s", " +%s", "+ %s", "0%s", "000%s", "%s ", "%s\t",
                     "\t%s", "\n%s", "%s.0", "%se0", "0x%s", "%s_", "_%s", "%s%s", "(%s)", "[%s]",
                     "%s,", " -%s", "+0%s", "\u0660%s", "%s\u00a0"]:
            s = k + form.replace("%s", n, 1).replace("%s", n)
            out += [s, "<" + s, ">" + s]
    out += ["f\u0668", "f\uff18", "\uff46\uff18", "float\uff16\uff14", "f\u00b2", "S\u0665"]
    out += ["f" + "0" * z + "8" for z in (10, 30, 59, 60, 61, 62, 63, 64, 100)]
    out += ["S" + "0" * z + "5" for z in (10, 60, 61, 62, 63)]
    out += ["<U" + "0" * z + "3" for z in (59, 60, 61, 62)]
    return out


UNITS = ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as", "\u03bcs",
         "\u00b5s", "generic"]
BAD_UNITS = ["", "B", "S", "sec", "us ", " us", "MS", "Ns", "x", "1", "ns2", "mus", "Generic",
             "y", "d", "H", "minute", "\u03bc", "\u03bcss"]
MULTS = ["", "1", "2", "10", "0", "-0", "+0", " 5", "  5", "+5", "-5", "5 ", "05", "25",
         "99999999", "999999999", "2147483647", "2147483648", "4294967297", "99999999999999999999"]
DIVS = ["1", "2", "3", "4", "5", "7", "11", "12", "24", "30", "52", "60", "365", "720", "1000",
        "1440", "3600", "10080", "60000", "86400", "1000000", "0", "-0", "-1", "-7", " 2", "+2",
        "2 ", "", "x", "2x", "2147483647", "2147483648", "4294967297", "4294967296"]


def datetimes():
    out = []
    for u in UNITS + BAD_UNITS:
        out += ["M8[%s%s]" % (m, u) for m in MULTS]
        out += ["%s[%s%s]" % (b, m, u) for b in ("m8", "datetime64", "timedelta64") for m in ("", "2")]
        out += ["M8[%s%s/%s]" % (m, u, d) for m in ("", "3") for d in DIVS]
    for u in UNITS:
        out += [o + b + "[%s]" % u for o in ORDERS for b in ("M8", "m8", "datetime64", "timedelta64")]
    malformed = ["M8", "m8", "M8[", "M8]", "M8[]", "M8[ns", "M8ns]", "M8[ns]]", "M8[[ns]]",
                 "M8[ns][ns]", "M8[ns]x", "M8 [ns]", "M8[ ns]", "M8[ns ]", "M8[n s]", "M8[5 s]",
                 "M8[ns/]", "M8[/2]", "M8[ns//2]", "M8[ns/2/3]", "M8[2/ns]", "M80", "M16", "M4",
                 "M08", "M 8", "M+8", "m+8", "m08", "M8x", "M8 ", "M8[ns],", "M8[1,2]",
                 "M8[ns]\x7f", "M8(ns)", "M8{ns}", "datetime64", "timedelta64", "datetime64ns",
                 "datetime64[ns]x", "datetime", "datetime32", "datetime64 [ns]", "timedelta64[",
                 "Datetime64[ns]", "DATETIME64", "M", "m", "M9", "m7", "M8[ns]M8[ns]", "M8[]]",
                 "M8[[]", "M8[]ns]", "M8[-1s]", "M8[1.5s]", "M8[1e3s]", "M8[0x10s]",
                 "M8[ns/1.0]", "M8[\u03bcs/1000]", "M8[generic/1]", "M8[generic/2]",
                 "M8[5generic]", "M8[0generic]", "timedelta64[generic]", "M8[W/-7]",
                 "M8[60000000W/2]", "M8[1073741824s/1000]", "M8[2000000D/24]", "M8[3000000h/60]",
                 "M8[1000000000Y/12]", "M8[10Y/365]", "M8[99999999ns]", "M8[999999999ns]",
                 "M8[99999999as]", "M8[9999999999s]", "<M8[99999999ns]", "<timedelta64[99999999ns]",
                 "timedelta64[2147483647as]"]
    out += malformed + [o + s for o in ORDERS for s in malformed]
    return out


def comma_strings():
    base = ["i4,f8", "f8,", ",f8", ",", ",,", "f8,,", "i4, f8", "i4 ,f8", "i4 , f8", "f8 ,",
            "f8, ", "1f8", "2f8", "0f8", "10i4", "1 f8", "2 i4", "(2,)f8", "(2,3)i4", "(1,)f8",
            "(1)f8", "()f8", "( )f8", "(  )f8", "(2)f8", "(2,3)", "()", "(1,2)f8,i4", "3S5",
            "1O", "1S0", "1U", "2M8[ns]", "M8[ns],i4", "i4,M8[ns]", "f8,O", "O,f8", "S0,", "a,b",
            "1", "0", "8", "f8]", "]f8", "],f8", "[,]f8", "[f8,i4]", "f8,[", "1f8,", "2,f8",
            "f8,2", "1i4", "1b1", "1?", "1M8", "1U3", "1V4", "1c", "1,", "1 ", "2f", "2d", "1d",
            "(2,)d", "(0,)f8", "0,f8", "i4,f8,u1", "<i4,>f8", "f8,f8", "2<f8", "1<f8", "1|f8",
            "1=f8", "1>f8", "<1f8", "<()f8", ">()f8", "|()i4", "=()d", "<()", "<(2,)f8", "<(1,)f8"]
    return base + [o + s for o in ORDERS for s in base]


def objects():
    base = ["O", "O0", "O1", "O2", "O4", "O8", "O16", "object", "object_", "object0", "|O",
            "|O8", "<O", ">O8", "=O4", "O 8", "O+8", "O08", "o", "o8", "Object"]
    return base + [o + s for o in ORDERS for s in base]


def unicode_and_bytes():
    strs = ["\uff46\uff18", "\uff26\uff18", "float\uff16\uff14", "M8[\u03bcs]", "M8[\u00b5s]",
            "\u00e9", "\u00fc8", "\u0130nt", "\u017f", "\ufb02oat64", "\u00a0f8", "f8\u00a0",
            "\u2028", "\U0001f600", "M8[ns]\U0001f600", "\uff2d8", "\u0192\u0668", "S\u00b9",
            "i\u2074", "float\u2076\u2074", "\u200bf8", "f8\u200b", "\ufefff8", "f8\ufeff",
            "d\u0301", "\u0127"]
    raw = [s.encode() for s in strs]
    raw += [b"\xff", b"\xfe", b"f\xff", b"\xc3", b"\xce", b"M8[\xce]", b"M8[\xces]", b"\xce\xbc",
            b"f8\x80", b"\x80f8", b"\xed\xa0\x80", b"\xc0\xb0", b"M8[\xc0\xb5s]", b"\xcf8",
            b"\xe2\x80", b"M8[\xbc\xces]", b"M8[\xce\xbc]", b"M8[3\xce\xbcs]", b"M8[\xce\xbcs/1000]",
            b"<M8[\xce\xbcs]", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80"]
    return raw


def long_strings():
    return ["f" * n for n in (63, 64, 65, 100, 1000)] + ["a" * 64, "S" + "9" * 63, "S" + "9" * 64,
            "float64" * 10, "M8[" + "0" * 58 + "1s]", "M8[" + "0" * 60 + "1s]", " " * 70,
            "x" * 4096, "timedelta64[" + "0" * 50 + "2ns]"]


def fuzz(count, seed):
    rng = random.Random(seed)
    alphabet = "fiucbdSUVaMmO?<>|=!, []()/0123456789nsxyDWhY-+. lgFqQ"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(count)]


def candidates():
    strs = (names() + codes() + kind_sizes() + number_forms() + datetimes() + comma_strings()
            + objects() + long_strings() + fuzz(2500, 20240601))
    raw = [s.encode("utf-8") for s in strs] + unicode_and_bytes()
    return [r for r in dict.fromkeys(raw) if b"\0" not in r]


# --------------------------------------------------------------------------------------------

def main():
    import numpy as np

    if not np.__version__.startswith("1.24."):
        sys.exit("gen-dtype-vectors: the vectors are NumPy 1.24's answers; this is numpy %s"
                 % np.__version__)
    out_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT

    numpy_ = NumPy()
    todo = candidates()
    seen = set(todo)
    lines = []
    i = 0
    # Every canonical string NumPy gives back is asked about in turn, so each round trip has a
    # vector of its own.
    while i < len(todo):
        raw = todo[i]
        answer = numpy_.ask(raw)
        lines.append(escape(raw) + "\t" + answer)
        if answer.startswith("ok\t"):
            canonical = unescape(answer.split("\t")[1])
            if canonical not in seen:
                seen.add(canonical)
                todo.append(canonical)
        i += 1
    numpy_.close()

    ok = sum(1 for l in lines if "\tok\t" in l)
    header = [
        "# dtype_vectors.txt: NumPy's np.dtype(s) for %d strings (%d accepted). Generated by" % (len(lines), ok),
        "# scripts/gen-dtype-vectors.py; do not edit. numpy %s, Python %s, %s %s."
        % (np.__version__, platform.python_version(), platform.system(), platform.machine()),
        "# Fields (tab-separated): STRING ok STR ITEMSIZE KIND, or STRING err. Bytes outside",
        "# 0x21..0x7e, and '\\' and '#', are written \\xHH.",
    ]
    if numpy_.crashed:
        signals = sorted({-rc for _, rc in numpy_.crashed})
        header.append("# NumPy crashed (signal %s) on these %d, recorded as err:"
                      % (", ".join(map(str, signals)), len(numpy_.crashed)))
        words = [escape(raw) for raw, _ in numpy_.crashed]
        for k in range(0, len(words), 8):
            header.append("#   " + " ".join(words[k:k + 8]))
    with open(out_path, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(header + lines) + "\n")
    print("%s: %d vectors, %d accepted by NumPy, %d crashes" % (out_path, len(lines), ok, len(numpy_.crashed)))


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        worker()
    else:
        main()
