# sesstrim/_dumpfile.py: the one thing the binding reads from a dump itself: the Python
# frame locations (record ST_REC_PYFRAME, type 19, written by preload/pyframes.c; dumps from
# before the record was registered in include/sesstrim_dump.h carry the same layout under
# the private type 0x7001). sesstrim-report prints Python frames itself ("function
# (file:line)", and in --json python/file/function/line keys); resolve() does the same for
# a --json document from a report that did not (an older sesstrim-report).
# Layout (include/sesstrim_dump.h, docs/dump-format.md): a 24-byte header, then records of
# {u16 type, u16 fixed_size, u32 total_size} + payload padded to 8 bytes, little-endian.
import struct

PYFRAME_TAG = 0xFFFE000000000000
PYFRAME_TAG_MASK = 0xFFFF000000000000
REC_PYFRAME = 19
REC_PYFRAME_PRIVATE = 0x7001                 # its type before it was registered
REC_END = 0xFFFF
_HEADER = 24
_PYFRAME_FIXED = struct.Struct("<IiHHI")      # id, line, file_len, func_len, reserved


def pyframes(path):
    """{id: (file, function, line)} from the dump at path; {} if it has none or is not a
    sesstrim dump."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    if len(data) < _HEADER or data[:7] != b"SESSTRM":
        return {}
    out = {}
    at = struct.unpack_from("<H", data, 10)[0] or _HEADER
    while at + 8 <= len(data):
        rtype, fixed, total = struct.unpack_from("<HHI", data, at)
        body = at + 8
        if rtype == REC_END or body + total > len(data):
            break
        if rtype in (REC_PYFRAME, REC_PYFRAME_PRIVATE) and fixed >= _PYFRAME_FIXED.size:
            rid, line, flen, nlen, _ = _PYFRAME_FIXED.unpack_from(data, body)
            var = data[body + fixed: body + total]
            out[rid] = (var[:flen].decode("utf-8", "replace"),
                        var[flen:flen + nlen].decode("utf-8", "replace"), line)
        at = body + total + ((8 - total % 8) % 8)
    return out


def is_python_frame(addr):
    return (int(addr) & PYFRAME_TAG_MASK) == PYFRAME_TAG


def resolve(doc):
    """Rewrite the Python frames of every site in a sesstrim-report --json document (one
    process or a family) in place: where = "function (file:line)", python = True."""
    procs = doc.get("processes") or [doc]
    for p in procs:
        sites = p.get("sites", [])
        if not any(is_python_frame(_addr(f)) for s in sites for f in s.get("frames", [])):
            continue
        locs = pyframes(p.get("dump", ""))
        for s in sites:
            for f in s.get("frames", []):
                a = _addr(f)
                if is_python_frame(a):
                    loc = locs.get(a & 0xFFFFFFFF)
                    f["python"] = True
                    if loc:
                        f["where"] = "%s (%s:%d)" % (loc[1], loc[0], loc[2])
                        f["file"], f["function"], f["line"] = loc
    if doc.get("processes") and doc["processes"][0] is not doc:
        # The top level repeats the first process's keys: keep both views the same.
        first = doc["processes"][0]
        if "sites" in first:
            doc["sites"] = first["sites"]
    return doc


def _addr(frame):
    a = frame.get("addr", 0)
    if isinstance(a, str):
        try:
            return int(a, 0)
        except ValueError:
            return 0
    return int(a)
