"""Write pickles the way Python 2's `cPickle.dump(obj, f, 2)` did, as DEAP's `sXX.dat` files were written.

Python 3's pickler at protocol 2 stores `bytes` as a call to `_codecs.encode(text, "latin1")` (Python 2
has no bytes type) and `str` as BINUNICODE. Python 2 stored its 8-bit `str` (which is what NumPy's array
state and the dict keys were) as SHORT_BINSTRING / BINSTRING. This writer does the same, so the files
are loaded by Python 2, by Python 3 with `pickle.load(f, encoding="latin1")`, and by
`emorecog.datasets.safe_pickle.load_safe_pickle` exactly like the real DEAP files, including the
large-buffer memory mapping.
"""

import pickle
import struct

PYTHON2_PROTOCOL = 2


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
