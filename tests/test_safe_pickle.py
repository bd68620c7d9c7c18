"""The restricted unpickler: loads DEAP-style pickles of every protocol, refuses anything that runs code."""

import io
import os
import pickle
import pickletools
import re

import numpy as np
import pytest

from emorecog.datasets.safe_pickle import (
    LAZY_PAYLOAD_MIN_BYTES,
    UnsafePickleError,
    dump_python2_pickle,
    load_safe_pickle,
)


def deap_like(trials=3, samples=4000, seed=0):
    rng = np.random.default_rng(seed)
    return {"data": rng.normal(size=(trials, 40, samples)), "labels": rng.uniform(1, 9, size=(trials, 4))}


def write_python2(path, obj):
    with open(path, "wb") as handle:
        dump_python2_pickle(obj, handle)
    return path


class RunsCommand:
    """Unpickling this object runs a shell command (the classic malicious-pickle payload)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class CallsEval:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


# -- what the format needs loads --------------------------------------------------------------------


def test_python2_pickle_loads_equal_and_memory_mapped(tmp_path):
    content = deap_like()
    path = write_python2(tmp_path / "s01.dat", content)
    loaded = load_safe_pickle(path)
    assert set(loaded) == {"data", "labels"}
    np.testing.assert_array_equal(loaded["data"], content["data"])
    np.testing.assert_array_equal(loaded["labels"], content["labels"])
    assert content["data"].nbytes >= LAZY_PAYLOAD_MIN_BYTES
    assert isinstance(loaded["data"], np.memmap)  # left in the file, not read into memory
    assert not loaded["data"].flags.writeable


def test_python2_pickle_uses_only_python2_opcodes_and_numpy_globals(tmp_path):
    path = write_python2(tmp_path / "s01.dat", deap_like(trials=1, samples=500))
    opcodes, globals_named = set(), set()
    for opcode, argument, _ in pickletools.genops(path.read_bytes()):
        opcodes.add(opcode.name)
        assert opcode.proto <= 2, opcode.name
        if opcode.name == "GLOBAL":
            globals_named.add(argument)
    assert "BINSTRING" in opcodes and "BINUNICODE" not in opcodes
    assert globals_named == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}


def test_python2_pickle_loads_with_plain_pickle_latin1(tmp_path):
    content = deap_like(trials=1, samples=600)
    path = write_python2(tmp_path / "s01.dat", content)
    with open(path, "rb") as handle:
        loaded = pickle.load(handle, encoding="latin1")  # how DEAP's own readme says to load it
    np.testing.assert_array_equal(loaded["data"], content["data"])


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_every_standard_protocol_loads(tmp_path, protocol):
    content = deap_like(trials=2, samples=700, seed=protocol)
    path = tmp_path / f"p{protocol}.dat"
    with open(path, "wb") as handle:
        pickle.dump(content, handle, protocol=protocol)
    loaded = load_safe_pickle(path)
    np.testing.assert_array_equal(loaded["data"], content["data"])
    np.testing.assert_array_equal(loaded["labels"], content["labels"])


def test_dtypes_orders_and_empty_arrays(tmp_path):
    content = {
        "big_endian": np.arange(5, dtype=">i4"),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "empty": np.zeros((0, 3)),
        "complex": np.array([1 + 2j]),
        "flags": np.array([True, False]),
    }
    path = write_python2(tmp_path / "mixed.dat", content)
    loaded = load_safe_pickle(path)
    np.testing.assert_array_equal(loaded["big_endian"], np.arange(5))
    assert loaded["big_endian"].dtype == np.dtype(">i4")
    np.testing.assert_array_equal(loaded["fortran"], content["fortran"])
    assert loaded["fortran"].flags.f_contiguous
    assert loaded["empty"].shape == (0, 3)
    np.testing.assert_array_equal(loaded["complex"], content["complex"])
    np.testing.assert_array_equal(loaded["flags"], content["flags"])


@pytest.mark.parametrize(
    "value, refused",
    [
        (np.float64(3.25), "numpy.core.multiarray.scalar"),
        ([1, 2], "a list"),
        (1 + 2j, "__builtin__.complex"),
        (2.5, "a float"),
        ({"nested": np.ones(2)}, "holding a dict"),
        ("text", "holding a 4-character text"),
    ],
)
def test_only_a_dict_of_named_arrays_can_be_built(tmp_path, value, refused):
    """Anything but arrays as the dict's values is refused, even harmless Python values."""
    path = tmp_path / "other.dat"
    path.write_bytes(pickle.dumps({"data": np.ones(2), "other": value}, protocol=2))
    with pytest.raises(UnsafePickleError, match=re.escape(refused)):
        load_safe_pickle(path)


# -- what runs code is refused ----------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_malicious_pickle_refused_and_command_not_run(tmp_path, protocol):
    marker = tmp_path / "PWNED"
    path = tmp_path / "s01.dat"
    with open(path, "wb") as handle:
        pickle.dump({"data": RunsCommand(f"touch {marker}"), "labels": np.ones((1, 4))}, handle, protocol=protocol)
    # the file really is dangerous: plain pickle would run the command (checked on a copy of the bytes)
    assert b"system" in path.read_bytes()
    with pytest.raises(UnsafePickleError) as caught:
        load_safe_pickle(path)
    message = str(caught.value)
    assert str(path) in message and "system" in message and "refused global" in message
    assert not marker.exists()


def test_malicious_payload_actually_runs_under_plain_pickle(tmp_path):
    """Control: the crafted bytes are a working exploit, so the refusal above is meaningful."""
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(RunsCommand(f"touch {marker}"), protocol=2)
    pickle.loads(payload)
    assert marker.exists()


@pytest.mark.parametrize("payload", [CallsEval(), io.StringIO])
def test_other_globals_refused(tmp_path, payload):
    path = tmp_path / "bad.dat"
    path.write_bytes(pickle.dumps({"data": payload}, protocol=2))
    with pytest.raises(UnsafePickleError, match="refused global"):
        load_safe_pickle(path)


def test_object_array_refused(tmp_path):
    path = tmp_path / "objects.dat"
    path.write_bytes(pickle.dumps({"data": np.array([1, "a", None], dtype=object)}, protocol=2))
    with pytest.raises(UnsafePickleError, match="dtype"):
        load_safe_pickle(path)


def test_codecs_encode_with_other_codec_refused(tmp_path):
    path = tmp_path / "codec.dat"
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x06\x00\x00\x00base64\x86R.")
    with pytest.raises(UnsafePickleError, match="_codecs.encode"):
        load_safe_pickle(path)


def test_reconstruct_of_non_ndarray_refused(tmp_path):
    path = tmp_path / "reconstruct.dat"
    path.write_bytes(b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\ndtype\nK\x00\x85U\x01b\x87R.")
    with pytest.raises(UnsafePickleError, match="only ndarray"):
        load_safe_pickle(path)


def test_persistent_id_refused(tmp_path):
    path = tmp_path / "persistent.dat"
    path.write_bytes(b"\x80\x02X\x03\x00\x00\x00abcQ.")
    with pytest.raises(UnsafePickleError, match="persistent id"):
        load_safe_pickle(path)


# -- broken files get a clear error -----------------------------------------------------------------


def test_truncated_pickle(tmp_path):
    path = write_python2(tmp_path / "s01.dat", deap_like(trials=1, samples=600))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(pickle.UnpicklingError, match="truncated") as caught:
        load_safe_pickle(path)
    assert not isinstance(caught.value, UnsafePickleError)
    assert str(path) in str(caught.value)


def test_truncated_inside_memory_mapped_buffer(tmp_path):
    path = write_python2(tmp_path / "s01.dat", deap_like())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(pickle.UnpicklingError, match="truncated"):
        load_safe_pickle(path)


def test_not_a_pickle(tmp_path):
    path = tmp_path / "s01.dat"
    path.write_text("hello, this is a text file, not a pickle\n")
    with pytest.raises(pickle.UnpicklingError, match="not a valid pickle") as caught:
        load_safe_pickle(path)
    assert str(path) in str(caught.value)


def test_buffer_size_mismatch(tmp_path):
    # a float64 [2] array whose buffer holds 8 bytes instead of 16
    path = tmp_path / "short.dat"
    path.write_bytes(
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
        b"(K\x01K\x02\x85cnumpy\ndtype\nU\x02f8K\x00K\x01\x87R(K\x03U\x01<NNNJ\xff\xff\xff\xff"
        b"J\xff\xff\xff\xffK\x00tb\x89U\x08\x00\x00\x00\x00\x00\x00\xf0?tb."
    )
    with pytest.raises(pickle.UnpicklingError, match="needs 16"):
        load_safe_pickle(path)


def test_python2_protocol0_text_pickle(tmp_path):
    """What Python 2's `cPickle.dumps(numpy.arange(2.0), 0)` wrote: STRING opcodes with escaped bytes."""
    path = tmp_path / "protocol0.dat"
    path.write_bytes(
        b"(dp0\nS'data'\np1\ncnumpy.core.multiarray\n_reconstruct\np2\n(cnumpy\nndarray\np3\n(I0\ntp4\nS'b'\np5\n"
        b"tp6\nRp7\n(I1\n(I2\ntp8\ncnumpy\ndtype\np9\n(S'f8'\np10\nI0\nI1\ntp11\nRp12\n(I3\nS'<'\np13\nNNNI-1\n"
        b"I-1\nI0\ntp14\nbI00\nS'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xf0?'\n"
        b"p15\ntp16\nbs."
    )
    np.testing.assert_array_equal(load_safe_pickle(path)["data"], [0.0, 1.0])


def test_refused_module_is_never_imported(tmp_path):
    import sys

    assert "antigravity" not in sys.modules
    path = tmp_path / "import.dat"
    path.write_bytes(b"\x80\x02cantigravity\ngeohash\n.")
    with pytest.raises(UnsafePickleError, match="antigravity.geohash"):
        load_safe_pickle(path)
    assert "antigravity" not in sys.modules
