"""Read named variables of a MATLAB v5 `.mat` file (DEAP's `data_preprocessed_matlab/sXX.mat`) with bounded
decompression.

scipy's `loadmat` inflates a compressed variable whole before looking at it, so a few-MB file whose zlib
stream expands to gigabytes exhausts memory first. This module walks the file's top-level data elements
itself (a 128-byte header, then elements of an 8-byte tag and a body; a compressed element's body is a zlib
stream holding one `miMATRIX` element):
- an element whose length runs past the end of the file, or a zlib stream that ends early, is a truncated
  file (`TruncatedMatFileError`), never a "missing field";
- a compressed variable is inflated with `zlib.decompressobj().decompress(data, max_length)`: first only
  its header (to learn its name: unwanted variables are never inflated), then at most the size its own
  header declares, which must fit `max_variable_bytes(file size)` before anything is allocated: the larger
  of `MAX_COMPRESSION_RATIO` x the file size and the size of a real DEAP subject's arrays
  (`DEAP_SUBJECT_BYTES`). A stream that tries to produce more is refused (`UnsafeMatFileError`);
- the wanted variables, inflated, are handed to scipy as an uncompressed in-memory MAT file, so scipy's
  reader parses the MATLAB array format and nothing is decompressed twice.
"""

import io
import os
import struct
import zlib

from emorecog.datasets.dataset_reader import RefusedFileError
from emorecog.datasets.regular_file import open_regular_file

HEADER_BYTES = 128
TAG_BYTES = 8
MI_MATRIX = 14
MI_COMPRESSED = 15
MI_INT8 = 1
# A real DEAP subject: data [40 trials, 40 channels, 8064 samples] and labels [40, 4], float64.
DEAP_SUBJECT_BYTES = (40 * 40 * 8064 + 40 * 4) * 8
MAX_COMPRESSION_RATIO = 20  # EEG samples compress far less than this; zero-filled bombs compress ~1000x
# Enough of an inflated variable to hold its tag, array flags, dimensions and name.
VARIABLE_HEADER_PEEK_BYTES = 512
READ_CHUNK_BYTES = 1 << 20


class MatFileError(ValueError):
    """A `.mat` file that cannot be read as MATLAB v5 (the message names the file and what is wrong)."""


class TruncatedMatFileError(MatFileError):
    """The `.mat` file ends before one of its data elements does."""


class UnsafeMatFileError(MatFileError, RefusedFileError):
    """A variable would inflate beyond what its file size and DEAP's shapes allow (a decompression bomb)."""


def max_variable_bytes(file_size):
    """How many bytes the variables of a `.mat` file of `file_size` bytes may inflate to, in total."""
    return max(MAX_COMPRESSION_RATIO * file_size, DEAP_SUBJECT_BYTES + (1 << 20))


def load_safe_mat(path, variable_names):
    """The variables `variable_names` of a MATLAB v5 file, as scipy's `loadmat` returns them.

    Args:
        path: a `.mat` file.
        variable_names: names to load; others are skipped without being inflated.

    Returns:
        A dict {name: NumPy array} with the names found (a missing name is simply absent).

    Raises:
        TruncatedMatFileError: the file ends inside a data element or a compressed stream.
        UnsafeMatFileError: the variables would inflate to more than `max_variable_bytes`.
        MatFileError: not a MATLAB v5 file (v7.3 HDF5 files included), or malformed.
        OSError: the file cannot be opened or is not a regular file.
    """
    path = os.fspath(path)
    with open_regular_file(path) as handle:
        file_size = os.fstat(handle.fileno()).st_size
        header = handle.read(HEADER_BYTES)
        byte_order = _check_header(path, header)
        walker = _ElementWalker(handle, path, file_size, byte_order)
        elements = walker.wanted_matrix_elements(set(variable_names))
    if not elements:
        return {}
    from scipy import io as scipy_io

    uncompressed = io.BytesIO(b"".join([header, *elements]))
    del elements
    try:
        return scipy_io.loadmat(uncompressed, variable_names=list(variable_names))
    except Exception as error:  # scipy raises many types (ValueError, TypeError, ...) on malformed arrays
        raise MatFileError(f"{path}: malformed MATLAB variable ({type(error).__name__}: {error})") from error


def _check_header(path, header):
    """The struct byte order ('<' or '>') of a MATLAB v5 header."""
    if header[:10] == b"MATLAB 7.3" or header[124:126] in (b"\x00\x02", b"\x02\x00"):
        raise MatFileError(
            f"{path}: MATLAB v7.3 (HDF5) files are not supported; use DEAP's data_preprocessed_python or save as -v7"
        )
    if len(header) < HEADER_BYTES:
        if header.startswith(b"MATLAB"):
            raise TruncatedMatFileError(
                f"{path}: truncated MATLAB file: {len(header)} bytes, shorter than its {HEADER_BYTES}-byte header"
            )
        raise MatFileError(f"{path}: not a MATLAB v5 file ({len(header)} bytes)")
    orders = {b"IM": "<", b"MI": ">"}
    if header[126:128] not in orders:
        raise MatFileError(
            f"{path}: not a MATLAB v5 file (no IM/MI byte-order mark at byte 126; expected "
            "variables 'data' [trials, 40, samples] and 'labels' [trials, 4])"
        )
    return orders[header[126:128]]


class _ElementWalker:
    """Walks the top-level data elements of an open MATLAB v5 file."""

    def __init__(self, handle, path, file_size, byte_order):
        self.handle = handle
        self.path = path
        self.file_size = file_size
        self.byte_order = byte_order
        self.budget = max_variable_bytes(file_size)

    def wanted_matrix_elements(self, names):
        """Uncompressed miMATRIX elements (tag + body) of the variables named in `names`."""
        elements = []
        while self.handle.tell() < self.file_size:
            offset = self.handle.tell()
            data_type, length = self._tag(self._read(TAG_BYTES, offset), offset)
            if length > self.file_size - self.handle.tell():
                raise TruncatedMatFileError(
                    f"{self.path}: truncated MATLAB file: the data element at byte {offset} declares {length} "
                    f"bytes, only {self.file_size - self.handle.tell()} remain"
                )
            body_offset = self.handle.tell()
            if data_type == MI_COMPRESSED:
                head = self._inflate(body_offset, length, VARIABLE_HEADER_PEEK_BYTES, offset, peek=True)
                inner_type, inner_length = self._tag(head[:TAG_BYTES], offset)
                if inner_type != MI_MATRIX:
                    raise MatFileError(
                        f"{self.path}: the compressed element at byte {offset} holds data type "
                        f"{inner_type}, expected a MATLAB array (miMATRIX)"
                    )
                if self._name(head[TAG_BYTES:], offset) in names:
                    self._spend(TAG_BYTES + inner_length, offset)
                    elements.append(self._inflate(body_offset, length, TAG_BYTES + inner_length, offset))
            elif data_type == MI_MATRIX:
                head = self._read(min(length, VARIABLE_HEADER_PEEK_BYTES), offset)
                if self._name(head, offset) in names:
                    self._spend(TAG_BYTES + length, offset)
                    self.handle.seek(body_offset)
                    elements.append(self._tag_bytes(MI_MATRIX, length) + self._read(length, offset))
            else:
                raise MatFileError(
                    f"{self.path}: the data element at byte {offset} has data type {data_type}, "
                    "expected a MATLAB array (miMATRIX) or a compressed one"
                )
            self.handle.seek(body_offset + length)
        return elements

    def _read(self, length, element_offset):
        data = self.handle.read(length)
        if len(data) != length:
            raise TruncatedMatFileError(
                f"{self.path}: truncated MATLAB file: it ends inside the data element at byte {element_offset}"
            )
        return data

    def _tag(self, data, element_offset):
        """(data type, length) of an 8-byte tag (not the small-element form: top-level tags are full)."""
        if len(data) < TAG_BYTES:
            raise TruncatedMatFileError(
                f"{self.path}: truncated MATLAB file: the data element at byte {element_offset} ends inside its tag"
            )
        data_type, length = struct.unpack(self.byte_order + "II", data[:TAG_BYTES])
        return data_type, length

    def _tag_bytes(self, data_type, length):
        return struct.pack(self.byte_order + "II", data_type, length)

    def _spend(self, size, element_offset):
        if size > self.budget:
            raise UnsafeMatFileError(
                f"{self.path}: refused the variable at byte {element_offset}: its {size} bytes would exceed the "
                f"{max_variable_bytes(self.file_size)} bytes a {self.file_size}-byte MATLAB file may inflate to "
                f"(at most {MAX_COMPRESSION_RATIO} x the file, or one DEAP subject)"
            )
        self.budget -= size

    def _inflate(self, body_offset, compressed_length, wanted, element_offset, peek=False):
        """The first `wanted` bytes a compressed element inflates to (all of it unless `peek`).

        Never holds more than `wanted` + 1 inflated bytes; a stream that would give more than `wanted` when
        not peeking, or ends before `wanted` bytes, is refused or reported truncated.
        """
        self.handle.seek(body_offset)
        inflater = zlib.decompressobj()
        pieces, produced, consumed = [], 0, 0
        while produced <= wanted:
            if inflater.unconsumed_tail:
                data = inflater.unconsumed_tail
            elif consumed < compressed_length and not inflater.eof:
                data = self.handle.read(min(READ_CHUNK_BYTES, compressed_length - consumed))
                consumed += len(data)
            else:
                break
            try:
                piece = inflater.decompress(data, wanted + 1 - produced)
            except zlib.error as error:
                raise MatFileError(
                    f"{self.path}: the compressed variable at byte {element_offset} is corrupt ({error})"
                ) from error
            pieces.append(piece)
            produced += len(piece)
        inflated = b"".join(pieces)
        if peek:
            if len(inflated) < TAG_BYTES:
                raise TruncatedMatFileError(
                    f"{self.path}: truncated MATLAB file: the compressed variable at byte "
                    f"{element_offset} ends inside its header"
                )
            return inflated[:wanted]
        if len(inflated) > wanted:
            raise UnsafeMatFileError(
                f"{self.path}: refused the compressed variable at byte {element_offset}: it inflates to more than "
                f"the {wanted} bytes its header declares"
            )
        if len(inflated) < wanted:
            raise TruncatedMatFileError(
                f"{self.path}: truncated MATLAB file: the compressed variable at byte {element_offset} inflates to "
                f"{len(inflated)} bytes, its header declares {wanted}"
            )
        return inflated

    def _name(self, body, element_offset):
        """The variable name in the body of a miMATRIX element (flags, dimensions, then the name)."""
        position = 0
        for _ in range(2):  # array flags, dimensions: skip
            _, length, position = self._sub_element(body, position, element_offset)
        data_type, length, start = self._sub_element(body, position, element_offset, keep_start=True)
        if data_type != MI_INT8 or start + length > len(body):
            raise MatFileError(f"{self.path}: the variable at byte {element_offset} has no readable name")
        return body[start : start + length].decode("latin1")

    def _sub_element(self, body, position, element_offset, keep_start=False):
        """(data type, length, next position) of a sub-element; with `keep_start` the position of its data."""
        if position + TAG_BYTES > len(body):
            raise MatFileError(f"{self.path}: the variable header at byte {element_offset} is cut short")
        first, second = struct.unpack(self.byte_order + "II", body[position : position + TAG_BYTES])
        if first >> 16:  # small data element: length and type in the first word, data in the second
            data_type, length = first & 0xFFFF, first >> 16
            return data_type, length, position + 4 if keep_start else position + TAG_BYTES
        start = position + TAG_BYTES
        return first, second, start if keep_start else start + (second + 7) // 8 * 8
