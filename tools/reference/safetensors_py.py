"""Minimal safetensors writer/reader for the reference scripts (Debian ships no Python
safetensors package). Same bytes as the reference library's writer: tensors sorted by dtype
(descending, in the library's Dtype order) then name, compact JSON, header padded with spaces."""
import json
import struct

import torch

_DTYPES = {  # torch dtype -> (safetensors name, order in the reference library's Dtype enum)
    torch.bool: ("BOOL", 0), torch.uint8: ("U8", 1), torch.int8: ("I8", 2), torch.int16: ("I16", 5),
    torch.float16: ("F16", 7), torch.bfloat16: ("BF16", 8), torch.int32: ("I32", 9),
    torch.float32: ("F32", 11), torch.float64: ("F64", 12), torch.int64: ("I64", 13),
}
_BY_NAME = {name: dt for dt, (name, _) in _DTYPES.items()}


def serialize(tensors, metadata=None):
    items = []
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        items.append((name, t, _DTYPES[t.dtype]))
    items.sort(key=lambda x: (-x[2][1], x[0]))
    parts, offset, blobs = [], 0, []
    if metadata:
        parts.append('"__metadata__":' + json.dumps(metadata, separators=(",", ":"), sort_keys=True))
    for name, t, (dname, _) in items:
        flat = t.reshape(-1)
        if t.dtype == torch.bfloat16:
            flat = flat.view(torch.int16)
        raw = flat.numpy().tobytes() if t.numel() else b""
        shape = ",".join(str(s) for s in t.shape)
        parts.append(json.dumps(name) + ':{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}'
                     % (dname, shape, offset, offset + len(raw)))
        offset += len(raw)
        blobs.append(raw)
    header = ("{" + ",".join(parts) + "}").encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    return struct.pack("<Q", len(header)) + header + b"".join(blobs)


def save(path, tensors, metadata=None):
    with open(path + ".tmp", "wb") as f:
        f.write(serialize(tensors, metadata))
    import os
    os.replace(path + ".tmp", path)


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    base = 8 + n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = _BY_NAME[info["dtype"]]
        buf = bytearray(data[base + b:base + e])
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16) if buf else torch.empty(0, dtype=dt)
        else:
            t = torch.frombuffer(buf, dtype=dt) if buf else torch.empty(0, dtype=dt)
        out[name] = t.reshape(info["shape"]).clone()
    return out
