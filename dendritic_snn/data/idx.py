"""IDX files (the MNIST / Fashion-MNIST container), gzip-compressed or raw.

Layout (big-endian): two zero bytes, one type code, one byte ``ndim``, then ``ndim``
unsigned 32-bit dimension sizes, then ``prod(dims)`` items of the type.

======  ==============  =====
code    type            bytes
======  ==============  =====
0x08    unsigned byte   1
0x09    signed byte     1
0x0B    short           2
0x0C    int             4
0x0D    float           4
0x0E    double          8
======  ==============  =====

Compression is detected from the file's first bytes (gzip magic ``1f 8b``), not its name.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ..errors import DsnnError

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise DsnnError(f"{path}: cannot read IDX file ({err.strerror or err})") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DsnnError(f"{path}: corrupt gzip data ({err})") from None
    return raw


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file.

    Parameters
    ----------
    raw
        File content.
    name
        Used in error messages.

    Returns
    -------
    numpy.ndarray
        Array of shape ``dims`` in native byte order.

    Raises
    ------
    DsnnError
        For a bad magic number, an unknown type code, or a size that does not match the dims.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DsnnError(f"{name}: not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        raise DsnnError(f"{name}: unknown IDX type code 0x{code:02X}")
    if ndim == 0:
        raise DsnnError(f"{name}: IDX file with 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DsnnError(f"{name}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DsnnError(
            f"{name}: IDX dims {'x'.join(map(str, dims))} need {expected} data bytes, "
            f"file has {len(raw) - header}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw (detected by magic number).

    Raises
    ------
    DsnnError
        If the file cannot be read or is not a valid IDX file.
    """
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of ``array`` (inverse of :func:`parse_idx`)."""
    array = np.asarray(array)
    for code, dtype in IDX_TYPES.items():
        if dtype.kind == array.dtype.kind and dtype.itemsize == array.dtype.itemsize:
            header = bytes([0, 0, code, array.ndim])
            header += np.asarray(array.shape, dtype=">u4").tobytes()
            return header + array.astype(dtype).tobytes()
    raise ValueError(f"no IDX type for dtype {array.dtype}")


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip it when ``compress`` (default: name ends .gz)."""
    path = Path(path)
    data = encode_idx(array)
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(data) if compress else data)
