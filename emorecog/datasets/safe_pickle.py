"""A pickle reader that can build nothing but what a DEAP `sXX.dat` file holds: a dict of named NumPy arrays.

A pickle is a program: `pickle.load` calls whatever callable the file names (`os.system`, `eval`, ...), so a
`.dat` file from an untrusted source could run arbitrary code. Restricting `find_class` is not enough
either: Python's own unpickler applies BUILD to any object on its stack, including the placeholders a
restricted unpickler puts there, and walks or prints whatever nesting and sharing the memo creates.

So `load_safe_pickle` runs its own small pickle machine, which knows exactly the opcodes and values a
pickled dict of arrays needs (Python 2's `cPickle` and Python 3's protocols 0-5) and refuses every other
opcode before acting on it:

| what the file may do                          | what it builds                                        |
|-----------------------------------------------|-------------------------------------------------------|
| strings, bytes, ints, bools, None, tuples      | plain values, only as arguments of the builders below |
| numpy.core.multiarray._reconstruct(ndarray, ..) | an array waiting for its state; BUILD (once) gives it |
|   then BUILD (version, shape, dtype, order, raw) | shape, dtype and the raw bytes                        |
| numpy.core.numeric._frombuffer(raw, dtype, ..)  | an array (protocol 5)                                 |
| numpy.dtype(spec, ...) then BUILD (byte order)  | a plain bool/int/uint/float/complex dtype             |
| _codecs.encode(text, "latin1")                 | bytes (Python 3 pickles of bytes at protocol < 3)     |
| EMPTY_DICT/DICT, SETITEM(S)                    | the result: text keys -> arrays                       |

There is no list, set, object, scalar, float, persistent id or extension code, and BUILD applies only to
an array or dtype under construction (once); anything else raises `UnsafePickleError`, naming the file, the
byte offset and what was refused. The machine never recurses, never formats a loaded value into a
message, and bounds what a small file can make it do, all checked before acting:
- nesting: tuples at most `MAX_NESTING_DEPTH` deep (an array's state needs 2), at most `MAX_STACK_ITEMS`
  values on the stack, `MAX_DICT_ENTRIES` fields;
- memo: at most `MAX_MEMO_ENTRIES` entries and `MAX_MEMO_FETCHES` fetches (a DEAP file uses about 20);
- size: every byte read, decoded, re-encoded or viewed as an array is counted against
  `MATERIALISED_BYTES_PER_FILE_BYTE` times the file size (plus `MATERIALISED_SLACK_BYTES`); a real DEAP
  subject (40 x 40 x 8064 float64 samples, ~100 MB) materialises about 1 byte per byte of file. So memo
  references cannot multiply a string, and a length field cannot ask for more bytes than the file has.
- only regular files are opened (a FIFO would block, `/dev/zero` never ends).

A file that ends early raises `TruncatedPickleError` (even inside a GLOBAL line); one that is not a pickle
at all or does not hold a dict of arrays raises `pickle.UnpicklingError`; both name the file.

Memory: a real subject file is ~100 MB of float64 samples. Python 2 wrote the sample buffer as one
BINSTRING; a byte string of at least `LAZY_PAYLOAD_MIN_BYTES` is not read but becomes a read-only `np.memmap`
of those bytes of the already open file, so opening a subject reads a few kB, and slicing one trial reads
that trial's pages.

Writing: `dump_python2_pickle` writes a pickle the way Python 2's `cPickle.dump(obj, f, 2)` did, as DEAP's
`sXX.dat` files were written. Python 3's pickler at protocol 2 stores `bytes` as a call to
`_codecs.encode(text, "latin1")` (Python 2 has no bytes type) and `str` as BINUNICODE; Python 2 stored its
8-bit `str` (which is what NumPy's array state and the dict keys were) as SHORT_BINSTRING / BINSTRING. The
writer does the same, so its files are loaded by Python 2, by Python 3 with `pickle.load(f,
encoding="latin1")`, and by `load_safe_pickle` exactly like the real DEAP files, including the large-buffer
memory mapping (the synthetic DEAP and the tests' crafted files are written with it).
"""

import codecs
import enum
import math
import os
import pickle
import pickletools
import struct

import numpy as np

from emorecog.datasets.dataset_reader import RefusedFileError
from emorecog.datasets.regular_file import open_regular_file

# Below this size a string payload is simply read: mapping it would save nothing.
LAZY_PAYLOAD_MIN_BYTES = 1 << 20
MAX_NESTING_DEPTH = 4
MAX_STACK_ITEMS = 1024
MAX_DICT_ENTRIES = 64
MAX_MEMO_ENTRIES = 1024
MAX_MEMO_FETCHES = 4096
MAX_ARRAY_DIMENSIONS = 32
MATERIALISED_BYTES_PER_FILE_BYTE = 3  # a Python 3 protocol-2 array: text read, re-encoded, viewed as an array
MATERIALISED_SLACK_BYTES = 1 << 20
MAX_TEXT_LINE_BYTES = 64  # INT, LONG, PUT, GET and GLOBAL lines of a real pickle are a few bytes
PYTHON2_PROTOCOL = 2

_ALLOWED_DTYPE_KINDS = frozenset("biufc")
_LATIN1_NAMES = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"})
# PROTO (protocol 2+), or how a protocol 0/1 pickle of a dict starts: anything else is not a pickle, and is
# reported as such rather than run as opcodes.
_PICKLE_FIRST_BYTES = frozenset((b"\x80", b"(", b"}", b"c"))


class UnsafePickleError(pickle.UnpicklingError, RefusedFileError):
    """The pickle asks for something a dict of NumPy arrays never needs: refused, never acted on."""


class TruncatedPickleError(pickle.UnpicklingError):
    """The file ends before its pickle does."""


class _Callable(enum.Enum):
    """The globals a pickled dict of arrays names, as inert tokens (nothing is imported or called)."""

    RECONSTRUCT = "numpy.core.multiarray._reconstruct"
    NDARRAY = "numpy.ndarray"
    DTYPE = "numpy.dtype"
    FROMBUFFER = "numpy.core.numeric._frombuffer"
    LATIN1_ENCODE = "_codecs.encode"


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _Callable.RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _Callable.RECONSTRUCT,
    ("numpy", "ndarray"): _Callable.NDARRAY,
    ("numpy", "dtype"): _Callable.DTYPE,
    ("numpy.core.numeric", "_frombuffer"): _Callable.FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _Callable.FROMBUFFER,
    ("_codecs", "encode"): _Callable.LATIN1_ENCODE,
}

# What the opcodes outside the machine would build, for the refusal message.
_REFUSED_OPCODE_PURPOSES = {
    "PERSID": "a persistent id",
    "BINPERSID": "a persistent id",
    "EXT1": "an extension-registry object",
    "EXT2": "an extension-registry object",
    "EXT4": "an extension-registry object",
    "INST": "an object of a class",
    "OBJ": "an object of a class",
    "NEWOBJ": "an object of a class",
    "NEWOBJ_EX": "an object of a class",
    "EMPTY_LIST": "a list",
    "LIST": "a list",
    "APPEND": "a list",
    "APPENDS": "a list",
    "EMPTY_SET": "a set",
    "ADDITEMS": "a set",
    "FROZENSET": "a frozenset",
    "FLOAT": "a float",
    "BINFLOAT": "a float",
    "LONG4": "a huge integer",
    "NEXT_BUFFER": "an out-of-band buffer",
    "READONLY_BUFFER": "an out-of-band buffer",
    "POP": "stack manipulation",
    "POP_MARK": "stack manipulation",
    "DUP": "stack manipulation",
}


class _Tuple:
    """A tuple on the machine's stack, with its nesting depth (a tuple of plain values has depth 1)."""

    __slots__ = ("items", "depth")

    def __init__(self, items, depth):
        self.items = items
        self.depth = depth


class _FileSpan:
    """A large byte string left in the file: its offset and length."""

    __slots__ = ("offset", "length")

    def __init__(self, offset, length):
        self.offset = offset
        self.length = length


class _PendingDtype:
    """The result of `numpy.dtype(spec, ...)`; one BUILD may set its byte order."""

    __slots__ = ("dtype", "built")

    def __init__(self, dtype):
        self.dtype = dtype
        self.built = False


class _Array:
    """An array: from `_frombuffer`, or from `_reconstruct(ndarray, ...)` once one BUILD gave it its state."""

    __slots__ = ("array",)

    def __init__(self):
        self.array = None


class _Dict:
    """The dict under construction: text keys -> arrays."""

    __slots__ = ("entries",)

    def __init__(self):
        self.entries = {}


def load_safe_pickle(path):
    """Load a pickled dict of NumPy arrays (a DEAP `sXX.dat`) without ever running code named by the file.

    Args:
        path: the pickle file (e.g. DEAP's `s01.dat`, a Python 2 pickle: strings are read as latin1).

    Returns:
        A dict {field name: NumPy array}; arrays are read-only, and those whose buffer is a large string
        in the file are `np.memmap`s into it.

    Raises:
        UnsafePickleError: the file asks for anything outside a dict of plain arrays (another global, a
            list, a persistent id, BUILD on anything but an array or dtype under construction, an object
            dtype, too deep nesting, too many memo references, more materialised bytes than the file can
            justify); the message names the file, the byte offset and what was refused.
        TruncatedPickleError: the file ends before its pickle does.
        pickle.UnpicklingError: the file is not a pickle, is malformed or does not hold a dict of arrays.
        OSError: the file cannot be opened or is not a regular file (a directory, FIFO or device).
    """
    path = os.fspath(path)
    with open_regular_file(path) as handle:
        head = handle.read(16)
        if not head:
            raise pickle.UnpicklingError(f"{path}: empty file, not a pickle")
        if head[:1] not in _PICKLE_FIRST_BYTES:
            raise pickle.UnpicklingError(
                f"{path}: not a valid pickle (starts with {head!r}; a pickle of a dict starts with "
                "b'\\x80' (protocol 2+), b'(' or b'}')"
            )
        handle.seek(0)
        machine = _DeapPickleMachine(handle, path, os.fstat(handle.fileno()).st_size)
        try:
            return machine.run()
        except (pickle.UnpicklingError, OSError):
            raise
        except (ValueError, TypeError, OverflowError, MemoryError, struct.error) as error:
            raise pickle.UnpicklingError(
                f"{path}: not a valid pickle at byte {machine.opcode_offset} ({type(error).__name__}: "
                f"{_shortened(str(error))})"
            ) from error
        finally:
            machine.release()


class _DeapPickleMachine:
    """Runs the opcodes of one pickle, allowing only those that build a dict of named arrays."""

    def __init__(self, handle, path, file_size):
        self.handle = handle
        self.path = path
        self.file_size = file_size
        self.budget = MATERIALISED_BYTES_PER_FILE_BYTE * file_size + MATERIALISED_SLACK_BYTES
        self.materialised = 0
        self.stack = []
        self.marks = []  # the stacks under each open MARK
        self.memo = {}
        self.memo_fetches = 0
        self.opcode_offset = 0
        self.opcode_name = ""
        self.protocol = 0
        self.dispatch = {
            "PROTO": self._proto,
            "FRAME": self._frame,
            "STOP": None,
            "MARK": self._mark,
            "EMPTY_DICT": self._empty_dict,
            "DICT": self._dict,
            "SETITEM": self._setitem,
            "SETITEMS": self._setitems,
            "EMPTY_TUPLE": lambda: self._push_tuple(()),
            "TUPLE": lambda: self._push_tuple(self._pop_mark()),
            "TUPLE1": lambda: self._push_tuple(self._pop_items(1)),
            "TUPLE2": lambda: self._push_tuple(self._pop_items(2)),
            "TUPLE3": lambda: self._push_tuple(self._pop_items(3)),
            "NONE": lambda: self._push(None),
            "NEWTRUE": lambda: self._push(True),
            "NEWFALSE": lambda: self._push(False),
            "INT": self._text_int,
            "LONG": self._text_long,
            "BININT": lambda: self._push(self._unpack("<i")),
            "BININT1": lambda: self._push(self._unpack("<B")),
            "BININT2": lambda: self._push(self._unpack("<H")),
            "LONG1": self._long1,
            "STRING": self._text_string,
            "UNICODE": self._text_unicode,
            "BINSTRING": lambda: self._push(self._payload(self._signed_length("<i"))),
            "SHORT_BINSTRING": lambda: self._push(self._payload(self._unpack("<B"))),
            "BINBYTES": lambda: self._push(self._payload(self._unpack("<I"))),
            "SHORT_BINBYTES": lambda: self._push(self._payload(self._unpack("<B"))),
            "BINBYTES8": lambda: self._push(self._payload(self._unpack("<Q"))),
            "BYTEARRAY8": lambda: self._push(self._payload(self._unpack("<Q"))),
            "BINUNICODE": lambda: self._push(self._unicode(self._unpack("<I"))),
            "SHORT_BINUNICODE": lambda: self._push(self._unicode(self._unpack("<B"))),
            "BINUNICODE8": lambda: self._push(self._unicode(self._unpack("<Q"))),
            "GLOBAL": self._global,
            "STACK_GLOBAL": self._stack_global,
            "REDUCE": self._reduce,
            "BUILD": self._build,
            "PUT": lambda: self._memo_put(self._text_index()),
            "BINPUT": lambda: self._memo_put(self._unpack("<B")),
            "LONG_BINPUT": lambda: self._memo_put(self._unpack("<I")),
            "MEMOIZE": lambda: self._memo_put(len(self.memo)),
            "GET": lambda: self._memo_get(self._text_index()),
            "BINGET": lambda: self._memo_get(self._unpack("<B")),
            "LONG_BINGET": lambda: self._memo_get(self._unpack("<I")),
        }

    # -- the loop --------------------------------------------------------------------------------------
    def release(self):
        """Drop every reference the machine holds. Its dispatch table refers to the machine itself (a cycle
        only the garbage collector frees), so without this its memo would keep the file's memory maps, and
        the pages read through them, alive long after the arrays are gone."""
        self.memo.clear()
        self.stack = []
        self.marks = []
        self.dispatch = {}

    def run(self):
        while True:
            self.opcode_offset = self.handle.tell()
            code = self.handle.read(1)
            if not code:
                raise self._truncated("the pickle has no STOP opcode")
            opcode = pickletools.code2op.get(code.decode("latin1"))
            if opcode is None:
                raise pickle.UnpicklingError(
                    f"{self.path}: not a valid pickle: byte {code!r} at offset {self.opcode_offset} is no opcode"
                )
            self.opcode_name = opcode.name
            if opcode.name not in self.dispatch:
                purpose = _REFUSED_OPCODE_PURPOSES.get(opcode.name, "something")
                raise self._refused(f"opcode {opcode.name}, which builds {purpose} (a DEAP file never holds one)")
            if opcode.name == "STOP":
                return self._result()
            self.dispatch[opcode.name]()

    def _result(self):
        if self.marks or len(self.stack) != 1:
            raise pickle.UnpicklingError(
                f"{self.path}: malformed pickle: STOP with {len(self.stack)} values and {len(self.marks)} open marks"
            )
        result = self.stack[0]
        if not isinstance(result, _Dict):
            raise pickle.UnpicklingError(
                f"{self.path}: holds {_describe(result)}, expected a dict of named NumPy arrays"
            )
        return dict(result.entries)

    # -- errors ----------------------------------------------------------------------------------------
    def _where(self):
        return f"{self.path}, byte {self.opcode_offset} ({self.opcode_name})"

    def _refused(self, reason):
        return UnsafePickleError(
            f"{self._where()}: refused {reason}; a DEAP .dat file holds only a dict of "
            "NumPy arrays, so this file is not loaded"
        )

    def _truncated(self, detail):
        return TruncatedPickleError(
            f"{self.path}: truncated pickle (file ends too early, at byte {self.file_size}): {detail}"
        )

    def _malformed(self, reason):
        return pickle.UnpicklingError(f"{self._where()}: malformed pickle: {reason}")

    # -- reading ---------------------------------------------------------------------------------------
    def _remaining(self):
        return self.file_size - self.handle.tell()

    def _read(self, length):
        if length > self._remaining():
            raise self._truncated(
                f"{self.opcode_name} at byte {self.opcode_offset} needs {length} more bytes, {self._remaining()} remain"
            )
        self._spend(length, "bytes read")
        return self.handle.read(length)

    def _unpack(self, layout):
        return struct.unpack(layout, self._read(struct.calcsize(layout)))[0]

    def _signed_length(self, layout):
        length = self._unpack(layout)
        if length < 0:
            raise self._malformed(f"negative length {length}")
        return length

    def _line(self, limit=MAX_TEXT_LINE_BYTES):
        """A text line without its newline; a missing newline at the end of the file is a truncation."""
        line = self.handle.readline(min(limit, self._remaining()) + 1)
        if not line.endswith(b"\n"):
            if self._remaining() == 0:
                raise self._truncated(f"the {self.opcode_name} line at byte {self.opcode_offset} has no end")
            raise self._refused(f"a {self.opcode_name} line longer than {limit} bytes")
        self._spend(len(line), "text read")
        return line[:-1]

    def _spend(self, size, what):
        """Count `size` more materialised bytes, refusing before the file could justify no more."""
        if self.materialised + size > self.budget:
            raise self._refused(
                f"{what}: it would bring the materialised data to {self.materialised + size} bytes, more than "
                f"{MATERIALISED_BYTES_PER_FILE_BYTE} x the {self.file_size}-byte file (+ "
                f"{MATERIALISED_SLACK_BYTES} bytes) can hold"
            )
        self.materialised += size

    # -- the stack -------------------------------------------------------------------------------------
    def _push(self, value):
        if len(self.stack) + sum(len(stack) for stack in self.marks) >= MAX_STACK_ITEMS:
            raise self._refused(f"more than {MAX_STACK_ITEMS} values on the pickle stack")
        self.stack.append(value)

    def _pop(self):
        if not self.stack:
            raise self._malformed("stack underflow")
        return self.stack.pop()

    def _pop_items(self, count):
        if len(self.stack) < count:
            raise self._malformed("stack underflow")
        items = self.stack[len(self.stack) - count :]
        del self.stack[len(self.stack) - count :]
        return items

    def _mark(self):
        if len(self.marks) >= MAX_NESTING_DEPTH + 2:
            raise self._refused(f"more than {MAX_NESTING_DEPTH + 2} open MARKs")
        self.marks.append(self.stack)
        self.stack = []

    def _pop_mark(self):
        if not self.marks:
            raise self._malformed(f"{self.opcode_name} without a MARK")
        items = self.stack
        self.stack = self.marks.pop()
        return items

    def _push_tuple(self, items):
        depth = 1
        for item in items:
            if isinstance(item, (_Dict, _Array)):
                raise self._refused(f"a tuple holding {_describe(item)}")
            if isinstance(item, _Tuple):
                depth = max(depth, item.depth + 1)
        if depth > MAX_NESTING_DEPTH:
            raise self._refused(f"tuples nested {depth} deep (at most {MAX_NESTING_DEPTH}; an array needs 2)")
        self._push(_Tuple(tuple(items), depth))

    # -- numbers and strings ---------------------------------------------------------------------------
    def _text_int(self):
        line = self._line()
        if line in (b"00", b"01"):  # protocol 0's False and True
            self._push(line == b"01")
        else:
            self._push(self._parse_int(line))

    def _text_long(self):
        line = self._line()
        self._push(self._parse_int(line[:-1] if line.endswith(b"L") else line))

    def _parse_int(self, text):
        try:
            return int(text.decode("ascii"), 10)
        except (UnicodeDecodeError, ValueError):
            raise self._malformed(f"{text[:20]!r} is not an integer") from None

    def _long1(self):
        length = self._unpack("<B")
        if length > 8:
            raise self._refused(f"a {length}-byte integer")
        self._push(int.from_bytes(self._read(length), "little", signed=True))

    def _text_index(self):
        index = self._parse_int(self._line())
        if index < 0:
            raise self._malformed(f"negative memo index {index}")
        return index

    def _payload(self, length):
        """A byte string (Python 2 `str`, or `bytes`): read, or left in the file when large."""
        if length < LAZY_PAYLOAD_MIN_BYTES:
            return self._read(length)
        if length > self._remaining():
            self._read(length)  # raises the truncation error
        span = _FileSpan(self.handle.tell(), length)
        self.handle.seek(length, os.SEEK_CUR)
        return span

    def _unicode(self, length):
        data = self._read(length)
        try:
            return data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise self._malformed(f"a {length}-byte unicode string that is not UTF-8") from None

    def _text_string(self):
        # Protocol 0's STRING: a quoted Python literal with escapes, on one line as long as the file allows.
        line = self._line(limit=self._remaining())
        if len(line) < 2 or line[:1] != line[-1:] or line[:1] not in (b"'", b'"'):
            raise self._malformed("STRING argument is not a quoted string")
        try:
            self._push(codecs.escape_decode(line[1:-1])[0])
        except ValueError:
            raise self._malformed("STRING argument has a bad escape") from None

    def _text_unicode(self):
        line = self._line(limit=self._remaining())
        try:
            self._push(line.decode("raw-unicode-escape"))
        except UnicodeDecodeError:
            raise self._malformed("UNICODE argument has a bad escape") from None

    # -- the memo --------------------------------------------------------------------------------------
    def _memo_put(self, index):
        if not self.stack:
            raise self._malformed("memo store with an empty stack")
        if index not in self.memo and len(self.memo) >= MAX_MEMO_ENTRIES:
            raise self._refused(f"more than {MAX_MEMO_ENTRIES} memo entries (a DEAP file uses about 20)")
        self.memo[index] = self.stack[-1]

    def _memo_get(self, index):
        self.memo_fetches += 1
        if self.memo_fetches > MAX_MEMO_FETCHES:
            raise self._refused(f"more than {MAX_MEMO_FETCHES} memo references (a DEAP file uses about 20)")
        if index not in self.memo:
            raise self._malformed(f"memo index {index} was never stored")
        self._push(self.memo[index])

    # -- globals and calls -----------------------------------------------------------------------------
    def _global(self):
        module = self._line().decode("latin1")
        name = self._line().decode("latin1")
        self._push(self._allowed_global(module, name))

    def _stack_global(self):
        name, module = self._pop(), self._pop()
        if not isinstance(module, str) or not isinstance(name, str):
            raise self._malformed("STACK_GLOBAL needs two strings")
        self._push(self._allowed_global(module, name))

    def _allowed_global(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise self._refused(
                f"global '{_shortened(module)}.{_shortened(name)}' (it would import or call something else)"
            ) from None

    def _reduce(self):
        arguments = self._pop()
        function = self._pop()
        if not isinstance(function, _Callable) or function is _Callable.NDARRAY:
            raise self._refused(f"REDUCE calling {_describe(function)}")
        if not isinstance(arguments, _Tuple):
            raise self._malformed(f"{function.value} called with {_describe(arguments)} instead of a tuple")
        arguments = arguments.items
        if function is _Callable.RECONSTRUCT:
            if not arguments or arguments[0] is not _Callable.NDARRAY:
                subtype = _describe(arguments[0]) if arguments else "nothing"
                raise self._refused(f"numpy _reconstruct of {subtype} (only ndarray)")
            self._push(_Array())
        elif function is _Callable.DTYPE:
            self._push(_PendingDtype(self._dtype(arguments[0] if arguments else None)))
        elif function is _Callable.FROMBUFFER:
            if len(arguments) != 4:
                raise self._malformed("_frombuffer takes (buffer, dtype, shape, order)")
            raw, dtype, shape, order = arguments
            order = _text(order)
            if order not in ("C", "F"):
                raise self._malformed("_frombuffer order must be 'C' or 'F'")
            built = _Array()
            built.array = self._array(raw, dtype, shape, order == "F")
            self._push(built)
        else:
            self._push(self._latin1_encode(arguments))

    def _latin1_encode(self, arguments):
        text = arguments[0] if arguments else None
        encoding = _text(arguments[1]) if len(arguments) > 1 else "utf-8"
        if not isinstance(text, str) or encoding is None or encoding.lower() not in _LATIN1_NAMES:
            raise self._refused("_codecs.encode other than of a text to latin1 (how Python 3 pickles bytes)")
        self._spend(len(text), "_codecs.encode")
        try:
            return text.encode("latin1")
        except UnicodeEncodeError:
            raise self._malformed("_codecs.encode of a text that is not latin1") from None

    def _dtype(self, spec):
        spec = _text(spec)
        if spec is None or len(spec) > 8:
            raise self._refused("a numpy dtype spec that is not a short type code such as 'f8'")
        try:
            dtype = np.dtype(spec)
        except (TypeError, ValueError, SyntaxError):
            raise self._refused(f"unknown numpy dtype {spec!r}") from None
        if dtype.kind not in _ALLOWED_DTYPE_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise self._refused(
                f"numpy dtype {spec!r} (only plain bool/int/uint/float/complex dtypes are allowed: "
                "object and structured arrays can hide code or pointers)"
            )
        return dtype

    def _build(self):
        state = self._pop()
        target = self.stack[-1] if self.stack else None
        if not isinstance(state, _Tuple):
            # Python's BUILD would update the target's attributes from a dict: the classic way to re-point
            # an unpickler's own objects. numpy's states are tuples.
            raise self._refused(f"BUILD with {_describe(state)} as state (only numpy's own state tuples)")
        if isinstance(target, _Array) and target.array is None:
            target.array = self._array_from_state(state)
        elif isinstance(target, _PendingDtype) and not target.built:
            target.dtype = self._dtype_with_state(target.dtype, state)
            target.built = True
        else:
            raise self._refused(
                f"BUILD on {_describe(target)} (only a numpy array or dtype under construction, "
                "once, can be given a state)"
            )

    def _dtype_with_state(self, dtype, state):
        # numpy's dtype state: (version, byte order, subarray, names, fields, elsize, alignment, flags[, metadata])
        if len(state.items) < 5:
            raise self._malformed("numpy dtype state is not a tuple of at least 5 items")
        byte_order = _text(state.items[1])
        if byte_order not in ("<", ">", "|", "="):
            raise self._malformed("numpy dtype byte order must be one of < > | =")
        if any(part is not None for part in state.items[2:5]) or any(
            not isinstance(part, (int, type(None))) for part in state.items[5:]
        ):
            raise self._refused("a structured, sub-array or metadata-carrying numpy dtype")
        return dtype.newbyteorder(byte_order) if byte_order in ("<", ">") else dtype

    def _array_from_state(self, state):
        # numpy's array state: ([version,] shape, dtype, fortran order, raw bytes)
        if len(state.items) not in (4, 5):
            raise self._malformed("numpy array state is not a tuple of 4 or 5 items")
        shape, dtype, fortran_order, raw = state.items[-4:]
        if not isinstance(fortran_order, (bool, int)):
            raise self._malformed("numpy array order flag is not a bool")
        return self._array(raw, dtype, shape, bool(fortran_order))

    def _array(self, raw, dtype, shape, fortran_order):
        if not isinstance(dtype, _PendingDtype):
            raise self._refused(f"a numpy array whose dtype is {_describe(dtype)}")
        dtype = dtype.dtype
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        elif isinstance(shape, _Tuple):
            shape = shape.items
        else:
            raise self._malformed(f"numpy array shape is {_describe(shape)}")
        if len(shape) > MAX_ARRAY_DIMENSIONS or not all(
            isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in shape
        ):
            raise self._malformed(f"numpy array shape must be at most {MAX_ARRAY_DIMENSIONS} non-negative ints")
        expected = math.prod(shape) * dtype.itemsize
        order = "F" if fortran_order else "C"
        if isinstance(raw, _FileSpan):
            if raw.length != expected:
                raise self._malformed(
                    f"array buffer holds {raw.length} bytes, shape {tuple(shape)} of {dtype} needs {expected}"
                )
            self._spend(expected, "an array")
            position = self.handle.tell()  # np.memmap seeks the file it maps
            mapped = np.memmap(self.handle, dtype=dtype, mode="r", offset=raw.offset, shape=tuple(shape), order=order)
            self.handle.seek(position)
            return mapped
        if not isinstance(raw, bytes):
            raise self._refused(
                f"numpy array data given as {_describe(raw)} instead of raw bytes (object arrays are refused)"
            )
        if len(raw) != expected:
            raise self._malformed(
                f"array buffer holds {len(raw)} bytes, shape {tuple(shape)} of {dtype} needs {expected}"
            )
        self._spend(expected, "an array")
        return np.frombuffer(raw, dtype=dtype).reshape(shape, order=order)

    # -- the dict --------------------------------------------------------------------------------------
    def _empty_dict(self):
        self._push(_Dict())

    def _dict(self):
        items = self._pop_mark()
        result = _Dict()
        self._push(result)
        self._set_items(result, items)

    def _setitem(self):
        items = self._pop_items(2)
        self._set_items(self._dict_on_top(), items)

    def _setitems(self):
        items = self._pop_mark()
        self._set_items(self._dict_on_top(), items)

    def _dict_on_top(self):
        target = self.stack[-1] if self.stack else None
        if not isinstance(target, _Dict):
            raise self._refused(f"{self.opcode_name} on {_describe(target)} (only the top-level dict takes items)")
        return target

    def _set_items(self, target, items):
        if len(items) % 2:
            raise self._malformed("an odd number of dict keys and values")
        for key, value in zip(items[::2], items[1::2]):
            name = _text(key)
            if name is None:
                raise self._refused(f"a dict key that is {_describe(key)} (field names are strings)")
            if not isinstance(value, _Array) or value.array is None:
                raise self._refused(f"field {_shortened(name)!r} holding {_describe(value)}, not a numpy array")
            if name in target.entries:
                raise self._malformed(f"field {_shortened(name)!r} appears twice")
            if len(target.entries) >= MAX_DICT_ENTRIES:
                raise self._refused(f"more than {MAX_DICT_ENTRIES} fields")
            target.entries[name] = value.array

    # -- protocol framing ------------------------------------------------------------------------------
    def _proto(self):
        self.protocol = self._unpack("<B")
        if self.protocol > pickle.HIGHEST_PROTOCOL:
            raise self._malformed(f"unknown pickle protocol {self.protocol}")

    def _frame(self):
        # Frames only group opcodes for buffered reading; this machine reads the file directly.
        length = self._unpack("<Q")
        if length > self._remaining():
            raise self._truncated(
                f"FRAME at byte {self.opcode_offset} announces {length} bytes, {self._remaining()} remain"
            )


def _text(value):
    """A Python 2 byte string (latin1) or a text as text; anything else None."""
    if isinstance(value, bytes):
        return value.decode("latin1")
    return value if isinstance(value, str) else None


def _describe(value):
    """What a machine value is, in a few words (never its contents: it may be huge)."""
    if value is None:
        return "None"
    if isinstance(value, _Callable):
        return value.value
    if isinstance(value, _Tuple):
        return f"a tuple of {len(value.items)} items"
    if isinstance(value, _Array):
        return "a numpy array" if value.array is not None else "a numpy array without its state"
    if isinstance(value, _PendingDtype):
        return "a numpy dtype"
    if isinstance(value, _Dict):
        return "a dict"
    if isinstance(value, _FileSpan):
        return f"a {value.length}-byte string"
    if isinstance(value, bytes):
        return f"a {len(value)}-byte string"
    if isinstance(value, str):
        return f"a {len(value)}-character text"
    return f"a {type(value).__name__}"


def _shortened(text, limit=80):
    text = repr(text)[1:-1] if isinstance(text, str) else str(text)
    return text if len(text) <= limit else text[:limit] + "..."


class _Python2Pickler(pickle._Pickler):
    """Python's own pure-Python pickler, with Python 2's encoding of 8-bit strings."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_python2_string(self, data):
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + struct.pack("<B", len(data)) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)

    def save_bytes(self, obj):
        self._save_python2_string(obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes

    def save_str(self, obj):
        # An ASCII text was a Python 2 `str` (dict keys, dtype codes); anything else was `unicode`.
        if obj.isascii():
            self._save_python2_string(obj.encode("ascii"))
            self.memoize(obj)
        else:
            super().save_str(obj)

    dispatch[str] = save_str


def dump_python2_pickle(obj, handle):
    """Pickle `obj` (dicts, lists, numbers, strings, NumPy arrays) to the binary `handle` as Python 2 did.

    Args:
        obj: the object; NumPy arrays pickle through their own `__reduce__` (numpy.core.multiarray).
        handle: a binary file opened for writing.
    """
    _Python2Pickler(handle, protocol=PYTHON2_PROTOCOL, fix_imports=True).dump(obj)
