"""A restricted unpickler for DEAP's `data_preprocessed_python/sXX.dat` files.

A pickle is a program: `pickle.load` calls whatever callable the file names (`os.system`, `eval`, ...), so a
`.dat` file from an untrusted source could run arbitrary code. `load_safe_pickle` runs the pickle machine
with a `find_class` that knows only the few globals a pickled dict of NumPy arrays needs, and even those are
replaced by small checking builders; nothing outside them is ever imported or called:

| global in the pickle                                   | what it is replaced by                          |
|--------------------------------------------------------|-------------------------------------------------|
| numpy.core.multiarray._reconstruct (numpy._core ...)   | an array builder; BUILD fills it from (version,  |
|                                                        | shape, dtype, fortran_order, raw bytes)         |
| numpy.ndarray                                          | a marker, only accepted as _reconstruct's type  |
| numpy.dtype                                            | a dtype builder for bool/int/uint/float/complex |
| numpy.core.multiarray.scalar                           | a NumPy scalar from (dtype, raw bytes)          |
| numpy.core.numeric._frombuffer (protocol 5)            | an array from (buffer, dtype, shape, order)     |
| _codecs.encode (Python 3 protocol < 3 bytes)           | `text.encode("latin1")`, no other codec         |
| builtins/__builtin__ complex, set, frozenset           | themselves (plain values)                       |

Dicts, lists, tuples, strings, numbers, booleans and None are pickle opcodes, not globals, so they need
no entry. Object arrays, structured dtypes, persistent ids and every other global raise
`UnsafePickleError` naming the file and the refused global, before anything is imported.

Memory: a real subject file is ~100 MB of float64 samples. Python 2 wrote the sample buffer as one
BINSTRING; when such a large string is used as an array's buffer, the array is a read-only `np.memmap` of
those bytes in the file, so opening a subject reads only the few kB around the buffer, and slicing one trial
reads that trial's pages. Arrays from other encodings (protocol-3+ BINBYTES inside frames, Python 3's
`_codecs.encode` form) are read into memory normally.
"""

import io
import os
import pickle
import struct

import numpy as np

# Below this size a string payload is simply read: mapping it would save nothing.
LAZY_PAYLOAD_MIN_BYTES = 1 << 20

_LATIN1_NAMES = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"})
_ALLOWED_DTYPE_KINDS = frozenset("biufc")
# PROTO (protocol 2+), or how a protocol 0/1 pickle of a container or a global starts: anything else is
# not a pickle, and is reported as such rather than run as opcodes.
_PICKLE_FIRST_BYTES = frozenset((b"\x80", b"(", b"}", b"]", b")", b"c"))


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asks for something the DEAP format never needs (a refused global, an object array...)."""


class _NDArrayType:
    """Stands for `numpy.ndarray` inside the pickle: it may only be passed to `_reconstruct`."""

    def __repr__(self):
        return "numpy.ndarray"


_NDARRAY = _NDArrayType()


class _LazyPayload:
    """A large byte string left in the file: (path, offset, length) instead of its bytes."""

    def __init__(self, path, offset, length):
        self.path = path
        self.offset = offset
        self.length = length

    def read(self):
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            return handle.read(self.length)


class _DtypeBuilder:
    """The result of `numpy.dtype(spec, align, copy)` in a pickle; BUILD may set only the byte order."""

    def __init__(self, source, spec):
        self._source = source
        if isinstance(spec, bytes):
            spec = spec.decode("latin1")
        if not isinstance(spec, str):
            raise UnsafePickleError(f"{source}: numpy.dtype spec must be a string, got {type(spec).__name__}")
        try:
            dtype = np.dtype(spec)
        except TypeError as error:
            raise UnsafePickleError(f"{source}: unknown numpy dtype {spec!r}") from error
        if dtype.kind not in _ALLOWED_DTYPE_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise UnsafePickleError(
                f"{source}: numpy dtype {spec!r} refused: only plain bool/int/uint/float/complex dtypes are "
                "allowed (object and structured arrays can hide code or pointers)")
        self.dtype = dtype

    def __setstate__(self, state):
        # numpy's dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags)
        if not isinstance(state, tuple) or len(state) < 2:
            raise UnsafePickleError(f"{self._source}: malformed numpy dtype state {state!r:.80}")
        byteorder = state[1]
        if isinstance(byteorder, bytes):
            byteorder = byteorder.decode("latin1")
        if byteorder not in ("<", ">", "|", "="):
            raise UnsafePickleError(f"{self._source}: bad numpy dtype byte order {byteorder!r}")
        if any(part is not None for part in state[2:5]):
            raise UnsafePickleError(f"{self._source}: structured/sub-array numpy dtypes are refused")
        if byteorder in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(byteorder)


class _ArrayBuilder:
    """The result of `_reconstruct(ndarray, (0,), b"b")`; BUILD gives it shape, dtype and the raw bytes."""

    def __init__(self, source):
        self._source = source
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise UnsafePickleError(f"{self._source}: malformed numpy array state")
        if len(state) == 5:
            state = state[1:]  # drop the state version number
        shape, dtype_builder, fortran_order, raw = state
        self.array = _array_from_parts(self._source, raw, dtype_builder, shape, bool(fortran_order))


def _checked_shape(source, shape):
    if isinstance(shape, int):
        shape = (shape,)
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise UnsafePickleError(f"{source}: numpy array shape must be a tuple of non-negative ints, got {shape!r:.80}")
    return shape


def _array_from_parts(source, raw, dtype_builder, shape, fortran_order):
    if not isinstance(dtype_builder, _DtypeBuilder):
        raise UnsafePickleError(f"{source}: numpy array without a plain numpy dtype")
    dtype = dtype_builder.dtype
    shape = _checked_shape(source, shape)
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    order = "F" if fortran_order else "C"
    if isinstance(raw, _LazyPayload):
        if raw.length != expected:
            raise pickle.UnpicklingError(
                f"{source}: array buffer holds {raw.length} bytes, shape {shape} of {dtype} needs {expected}")
        if expected == 0:
            return np.zeros(shape, dtype, order=order)
        return np.memmap(raw.path, dtype=dtype, mode="r", offset=raw.offset, shape=shape, order=order)
    if isinstance(raw, str):
        raw = raw.encode("latin1")  # a Python 2 string decoded with encoding="latin1"
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise UnsafePickleError(
            f"{source}: numpy array data must be raw bytes, got {type(raw).__name__} (object arrays are refused)")
    raw = memoryview(raw).cast("B")
    if raw.nbytes != expected:
        raise pickle.UnpicklingError(
            f"{source}: array buffer holds {raw.nbytes} bytes, shape {shape} of {dtype} needs {expected}")
    array = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize if dtype.itemsize else -1)
    return array.reshape(shape, order=order).copy(order=order)


class _SafeUnpickler(pickle._Unpickler):
    """Python's own (pure Python) pickle machine with a closed list of globals and lazy large strings.

    The pure-Python machine is used rather than the C one because it lets large BINSTRING payloads be
    left in the file (see `_LazyPayload`); both run the same opcodes.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, handle, path):
        super().__init__(handle, encoding="latin1")
        self._handle = handle
        self._path = path
        try:
            self._file_size = os.fstat(handle.fileno()).st_size
        except (AttributeError, OSError, io.UnsupportedOperation):
            self._file_size = None
        self._globals = {
            ("numpy.core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy", "ndarray"): _NDARRAY,
            ("numpy", "dtype"): self._dtype,
            ("numpy.core.multiarray", "scalar"): self._scalar,
            ("numpy._core.multiarray", "scalar"): self._scalar,
            ("numpy.core.numeric", "_frombuffer"): self._frombuffer,
            ("numpy._core.numeric", "_frombuffer"): self._frombuffer,
            ("_codecs", "encode"): self._latin1_encode,
            ("builtins", "complex"): complex,
            ("__builtin__", "complex"): complex,
            ("builtins", "set"): set,
            ("__builtin__", "set"): set,
            ("builtins", "frozenset"): frozenset,
            ("__builtin__", "frozenset"): frozenset,
        }

    # -- the closed list of globals -------------------------------------------------------------
    def find_class(self, module, name):
        try:
            return self._globals[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._path}: refused global '{module}.{name}': a DEAP .dat file holds only a dict of "
                "NumPy arrays; this pickle would call or import something else, so it is not loaded") from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self._path}: refused persistent id {pid!r:.80}")

    def _reconstruct(self, subtype, shape, typecode):
        if subtype is not _NDARRAY:
            raise UnsafePickleError(f"{self._path}: numpy _reconstruct of {subtype!r:.80} refused (only ndarray)")
        return _ArrayBuilder(self._path)

    def _dtype(self, spec, align=False, copy=True):
        return _DtypeBuilder(self._path, spec)

    def _scalar(self, dtype_builder, raw=None):
        if not isinstance(dtype_builder, _DtypeBuilder):
            raise UnsafePickleError(f"{self._path}: numpy scalar without a plain numpy dtype")
        if isinstance(raw, str):
            raw = raw.encode("latin1")
        if not isinstance(raw, bytes) or len(raw) != dtype_builder.dtype.itemsize:
            raise UnsafePickleError(f"{self._path}: malformed numpy scalar of {dtype_builder.dtype}")
        return np.frombuffer(raw, dtype=dtype_builder.dtype)[0]

    def _frombuffer(self, buffer, dtype_builder, shape, order):
        if isinstance(order, bytes):
            order = order.decode("latin1")
        if order not in ("C", "F"):
            raise UnsafePickleError(f"{self._path}: bad array order {order!r:.20}")
        return _array_from_parts(self._path, buffer, dtype_builder, shape, order == "F")

    def _latin1_encode(self, text, encoding="utf-8", errors="strict"):
        if not isinstance(text, str) or str(encoding).lower() not in _LATIN1_NAMES:
            raise UnsafePickleError(
                f"{self._path}: refused _codecs.encode(..., {encoding!r:.40}): only latin1-encoded byte strings "
                "(Python 3 protocol-2 bytes) are allowed")
        return text.encode("latin1")

    # -- large strings stay in the file ---------------------------------------------------------
    def _push_payload(self, length):
        mappable = (self.proto < 4 and self._file_size is not None and length >= LAZY_PAYLOAD_MIN_BYTES)
        if not mappable:
            data = self.read(length)
            if len(data) != length:
                raise EOFError(f"string of {length} bytes cut short")
            return data
        offset = self._handle.tell()
        if offset + length > self._file_size:
            raise EOFError(f"string of {length} bytes at offset {offset} runs past the end of the file")
        self._handle.seek(offset + length)
        return _LazyPayload(self._path, offset, length)

    def load_binstring(self):
        (length,) = struct.unpack("<i", self.read(4))
        if length < 0:
            raise pickle.UnpicklingError("BINSTRING pickle has negative byte count")
        payload = self._push_payload(length)
        self.append(payload if isinstance(payload, _LazyPayload) else self._decode_string(payload))

    dispatch[pickle.BINSTRING[0]] = load_binstring

    def load_binbytes(self):
        (length,) = struct.unpack("<I", self.read(4))
        self.append(self._push_payload(length))

    dispatch[pickle.BINBYTES[0]] = load_binbytes


def _resolve(value, path):
    """Replace the builders left in the loaded structure by the arrays/strings they stand for."""
    if isinstance(value, _ArrayBuilder):
        if value.array is None:
            raise UnsafePickleError(f"{path}: numpy array never given its state")
        return value.array
    if isinstance(value, _LazyPayload):
        return value.read().decode("latin1")
    if isinstance(value, (_DtypeBuilder,)):
        return value.dtype
    if value is _NDARRAY:
        raise UnsafePickleError(f"{path}: a bare numpy.ndarray type is not data")
    if isinstance(value, dict):
        return {_resolve(key, path): _resolve(item, path) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, path) for item in value]
    if isinstance(value, tuple):
        return tuple(_resolve(item, path) for item in value)
    return value


def load_safe_pickle(path):
    """Load a pickle of plain data and NumPy arrays without ever running code named by the file.

    Args:
        path: the pickle file (e.g. DEAP's `s01.dat`, a Python 2 pickle: strings are read as latin1).

    Returns:
        The unpickled object; NumPy arrays whose buffer is a large Python-2 string are read-only
        `np.memmap`s into the file.

    Raises:
        UnsafePickleError: the file names a global outside the allowed list (message names the file and
            the global), or asks for an object array or a persistent id.
        pickle.UnpicklingError: the file is not a pickle, is truncated, or is malformed (message names the
            file).
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        head = handle.read(16)
        if not head:
            raise pickle.UnpicklingError(f"{path}: empty file, not a pickle")
        if head[:1] not in _PICKLE_FIRST_BYTES:
            raise pickle.UnpicklingError(
                f"{path}: not a valid pickle (starts with {head!r}; a pickle of a dict starts with "
                "b'\\x80' (protocol 2+), b'(' or b'}')")
        handle.seek(0)
        unpickler = _SafeUnpickler(handle, path)
        try:
            loaded = unpickler.load()
        except UnsafePickleError:
            raise
        except EOFError as error:
            detail = f": {error}" if str(error) else ""
            raise pickle.UnpicklingError(f"{path}: truncated pickle (file ends too early{detail})") from error
        except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                struct.error, UnicodeDecodeError, MemoryError, OverflowError) as error:
            raise pickle.UnpicklingError(f"{path}: not a valid pickle ({type(error).__name__}: {error})") from error
    return _resolve(loaded, path)
