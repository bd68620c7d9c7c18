"""Fault injection, hostile and broken data files: crafted pickles and MATLAB files, truncations at every byte,
random byte flips, FIFOs, devices, directories and dangling links where a subject file should be, and broken
participant_ratings.csv files. Each ends in one clear error naming the file, never in code run, a crash, a
hang, a bare traceback type or unbounded memory.

The hostile files are written here byte by byte (pickle opcodes, MAT v5 elements), so the suite does not
depend on any outside list of attacks.
"""

import csv
import os
import pickle
import random
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from emorecog.cli import main as cli
from emorecog.datasets.dataset_reader import RefusedFileError
from emorecog.datasets.deap import DeapDataset, DeapFormatError
from emorecog.datasets.safe_mat import TruncatedMatFileError, UnsafeMatFileError, load_safe_mat
from emorecog.datasets.safe_pickle import (
    LAZY_PAYLOAD_MIN_BYTES,
    TruncatedPickleError,
    UnsafePickleError,
    dump_python2_pickle,
    load_safe_pickle,
)

# Bound for the peak memory of a process refusing a bomb (the bombs below would need gigabytes).
BOMB_PEAK_RSS_LIMIT_MB = 400


# -- pickle opcodes, Python 2 style (what DEAP's cPickle wrote) ------------------------------------------------

PROTO2 = b"\x80\x02"
EMPTY_DICT, MARK, SETITEM, SETITEMS, STOP, BUILD = b"}", b"(", b"s", b"u", b".", b"b"


def short_string(text):
    data = text.encode() if isinstance(text, str) else text
    return b"U" + bytes([len(data)]) + data


def binstring(data):
    return b"T" + struct.pack("<i", len(data)) + data


def put(index):
    return b"r" + struct.pack("<I", index)


def get(index):
    return b"j" + struct.pack("<I", index)


def array_opcodes(raw_opcodes, shape=(2,), extra_before_state_end=b""):
    """A float64 array of `shape` as Python 2 numpy pickled it, with `raw_opcodes` pushing its buffer."""
    shape_opcodes = MARK + b"".join(b"J" + struct.pack("<i", size) for size in shape) + b"t"
    return (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
        + MARK
        + b"K\x01"
        + shape_opcodes
        + b"cnumpy\ndtype\nU\x02f8K\x00K\x01\x87R(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + b"\x89"
        + raw_opcodes
        + extra_before_state_end
        + b"t"
        + BUILD
    )


def deap_dict(data_opcodes, labels=np.full((1, 4), 5.0)):
    return (
        PROTO2
        + EMPTY_DICT
        + MARK
        + short_string("data")
        + data_opcodes
        + short_string("labels")
        + array_opcodes(binstring(labels.astype("<f8").tobytes()), labels.shape)
        + SETITEMS
        + STOP
    )


def write(path, data):
    path.write_bytes(data)
    return path


def valid_pickle_bytes(protocol):
    content = {"data": np.arange(24.0).reshape(2, 3, 4), "labels": np.full((2, 4), 3.5)}
    if protocol == "python2":
        import io

        buffer = io.BytesIO()
        dump_python2_pickle(content, buffer)
        return buffer.getvalue()
    return pickle.dumps(content, protocol=protocol)


def peak_rss_of_refused_load(loader, path, *arguments):
    """Peak resident memory (MB) of a fresh Python in which `loader` ("module.function") refuses `path`."""
    module, function = loader.rsplit(".", 1)
    return peak_rss_mb(f"""
        from emorecog.datasets.dataset_reader import RefusedFileError
        from {module} import {function}
        try:
            {function}({str(path)!r}, *{arguments!r})
        except RefusedFileError:
            pass
        else:
            raise SystemExit("not refused")
    """)


def peak_rss_mb(code):
    """Peak resident memory (MB) of a fresh Python running `code` (which must not fail the process).

    Read from VmHWM in /proc: getrusage's ru_maxrss would also count the pytest process it was forked from.
    """
    script = textwrap.dedent(code) + textwrap.dedent("""
        peak_kb = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
        print("PEAK", int(peak_kb) // 1024)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return int(result.stdout.split("PEAK")[-1])


# -- the machine builds the real format ------------------------------------------------------------------------


def test_handwritten_deap_dict_loads(tmp_path):
    raw = np.array([1.5, -2.0]).astype("<f8").tobytes()
    loaded = load_safe_pickle(write(tmp_path / "s01.dat", deap_dict(array_opcodes(binstring(raw)))))
    np.testing.assert_array_equal(loaded["data"], [1.5, -2.0])
    assert loaded["labels"].shape == (1, 4)


# -- BUILD cannot reach the machine's own objects --------------------------------------------------------------


def test_build_cannot_repoint_a_large_string_at_another_file(tmp_path):
    """The attack on the previous unpickler: BUILD with a dict state re-pointed its lazy-string placeholder
    (path, offset) at another file, so a DEAP-shaped file carried the bytes of any file on disk."""
    secret = write(tmp_path / "secret.bin", np.full(LAZY_PAYLOAD_MIN_BYTES // 8, 42.0).tobytes())
    placeholder_state = EMPTY_DICT + short_string("path") + short_string(str(secret)) + SETITEM
    crafted = deap_dict(
        array_opcodes(
            binstring(bytes(LAZY_PAYLOAD_MIN_BYTES)) + placeholder_state + BUILD, shape=(LAZY_PAYLOAD_MIN_BYTES // 8,)
        )
    )
    with pytest.raises(UnsafePickleError, match="refused") as caught:
        load_safe_pickle(write(tmp_path / "s01.dat", crafted))
    assert "42" not in str(caught.value)


@pytest.mark.parametrize(
    "target, state",
    [
        (binstring(bytes(LAZY_PAYLOAD_MIN_BYTES)), MARK + short_string("x") + b"t"),  # a large string left in the file
        (short_string("abc"), MARK + b"K\x01t"),  # a plain string
        (b"cnumpy\nndarray\n", MARK + b"K\x01t"),  # a global token
    ],
)
def test_build_on_anything_but_an_array_or_dtype_is_refused(tmp_path, target, state):
    path = write(tmp_path / "s01.dat", PROTO2 + target + state + BUILD + STOP)
    with pytest.raises(UnsafePickleError, match=r"refused BUILD on"):
        load_safe_pickle(path)


def test_build_with_a_dict_state_is_refused(tmp_path):
    crafted = deap_dict(
        array_opcodes(binstring(bytes(16))).replace(
            b"\x89" + binstring(bytes(16)) + b"t" + BUILD, b"\x89" + binstring(bytes(16)) + b"t" + EMPTY_DICT + BUILD
        )
    )
    with pytest.raises(UnsafePickleError, match="refused"):
        load_safe_pickle(write(tmp_path / "s01.dat", crafted))


def test_an_array_cannot_be_given_its_state_twice(tmp_path):
    """A second BUILD would replace an array after its checks."""
    twice = array_opcodes(binstring(bytes(16))) + MARK + b"K\x01" + b"t" + BUILD
    with pytest.raises(UnsafePickleError, match="refused BUILD on a numpy array"):
        load_safe_pickle(write(tmp_path / "s01.dat", deap_dict(twice)))


# -- nesting, memo and size bombs ------------------------------------------------------------------------------


def test_deeply_nested_tuple_as_dict_key_is_refused_not_a_crash(tmp_path):
    """100000 nested tuples as a dict key crashed Python (segmentation fault) when hashed."""
    crafted = PROTO2 + EMPTY_DICT + b")" + b"\x85" * 100_000 + short_string("v") + SETITEM + STOP
    with pytest.raises(UnsafePickleError, match="tuples nested 5 deep"):
        load_safe_pickle(write(tmp_path / "s01.dat", crafted))


@pytest.mark.parametrize(
    "crafted, refused",
    [
        (PROTO2 + b"]" * 100_000 + STOP, "opcode EMPTY_LIST, which builds a list"),
        (PROTO2 + MARK * 100_000 + STOP, "open MARKs"),
        (PROTO2 + b"N" * 100_000 + STOP, "values on the pickle stack"),
    ],
)
def test_deep_lists_marks_and_stacks_are_refused(tmp_path, crafted, refused):
    with pytest.raises(UnsafePickleError, match=refused):
        load_safe_pickle(write(tmp_path / "s01.dat", crafted))


def test_exponential_memo_bomb_is_refused_at_once(tmp_path):
    """A 1 KB file: each level a pair of references to the level below, 2^40 leaves if expanded."""
    levels = b"".join(get(level) + get(level) + b"\x86" + put(level + 1) for level in range(40))
    crafted = PROTO2 + EMPTY_DICT + short_string("data") + short_string("x") + put(0) + levels + SETITEM + STOP
    assert len(crafted) < 1100
    with pytest.raises(UnsafePickleError, match="nested 5 deep"):
        load_safe_pickle(write(tmp_path / "s01.dat", crafted))


def test_wide_memo_references_are_bounded(tmp_path):
    crafted = PROTO2 + short_string("x") + put(0) + (MARK + get(0) * 1000 + b"t") * 5 + STOP
    with pytest.raises(UnsafePickleError, match="memo references"):
        load_safe_pickle(write(tmp_path / "s01.dat", crafted))


def test_one_string_referenced_1500_times_is_refused_before_growing(tmp_path):
    """One 1 MB string stored once and referenced by 1500 arrays: 1.5 GB if each were materialised."""
    fields = b"".join(
        short_string(f"f{index}") + array_opcodes(get(0), shape=(LAZY_PAYLOAD_MIN_BYTES // 8,)) for index in range(1500)
    )
    path = write(
        tmp_path / "s01.dat", PROTO2 + binstring(bytes(LAZY_PAYLOAD_MIN_BYTES)) + put(0) + MARK + fields + b"d" + STOP
    )
    with pytest.raises(UnsafePickleError, match="materialised data") as caught:
        load_safe_pickle(path)
    assert len(str(caught.value)) < 600  # the message describes, never prints, the offending values
    peak = peak_rss_of_refused_load("emorecog.datasets.safe_pickle.load_safe_pickle", path)
    assert peak < BOMB_PEAK_RSS_LIMIT_MB, peak


def test_a_length_field_cannot_ask_for_more_than_the_file_holds(tmp_path):
    crafted = PROTO2 + b"T" + struct.pack("<i", 2**31 - 1) + b"abc"
    with pytest.raises(TruncatedPickleError, match="needs 2147483647 more bytes"):
        load_safe_pickle(write(tmp_path / "s01.dat", crafted))
    crafted = b"\x80\x04\x8e" + struct.pack("<Q", 2**62) + b"abc"  # BINBYTES8
    with pytest.raises(TruncatedPickleError):
        load_safe_pickle(write(tmp_path / "s02.dat", crafted))


# -- truncation, anywhere, is a truncation; random damage is one of the three errors ---------------------------


@pytest.mark.parametrize("protocol", ["python2", 0, 2, 4, 5])
def test_a_cut_at_any_byte_is_reported_truncated(tmp_path, protocol):
    data = valid_pickle_bytes(protocol)
    path = tmp_path / "s01.dat"
    for cut in range(1, len(data)):
        path.write_bytes(data[:cut])
        with pytest.raises(TruncatedPickleError, match="truncated pickle"):
            load_safe_pickle(path)


def test_a_cut_inside_a_global_line_is_truncated_not_refused(tmp_path):
    data = valid_pickle_bytes("python2")
    cut = data.index(b"numpy.core.multi") + len(b"numpy.core.multi")
    path = write(tmp_path / "s01.dat", data[:cut])
    with pytest.raises(TruncatedPickleError) as caught:
        load_safe_pickle(path)
    assert not isinstance(caught.value, RefusedFileError)
    with pytest.raises(DeapFormatError, match="truncated"):
        DeapDataset._load_pickle(str(path))


@pytest.mark.parametrize("protocol", ["python2", 0, 4])
def test_random_byte_damage_ends_in_one_of_the_documented_errors(tmp_path, protocol):
    data = valid_pickle_bytes(protocol)
    rng = random.Random(protocol if isinstance(protocol, int) else 2)
    path = tmp_path / "s01.dat"
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path.write_bytes(bytes(damaged))
        try:
            loaded = load_safe_pickle(path)
        except pickle.UnpicklingError as error:  # refused, truncated or malformed
            assert str(path) in str(error)
        else:
            assert isinstance(loaded, dict) and all(isinstance(value, np.ndarray) for value in loaded.values())


# -- what is not a regular file --------------------------------------------------------------------------------


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "s01.dat"
    os.mkfifo(fifo)
    code = f"from emorecog.datasets.safe_pickle import load_safe_pickle\nload_safe_pickle({str(fifo)!r})"
    # Guard against a hang (the previous reader blocked forever): generous, not a speed requirement.
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "is a FIFO (named pipe), expected a regular file" in result.stderr


def test_dev_zero_a_directory_and_a_dangling_link_are_named(damageable_deap, tmp_path):
    deap = damageable_deap
    data_dir = Path(deap) / "data_preprocessed_python"
    (data_dir / "s01.dat").unlink()
    os.symlink("/dev/zero", data_dir / "s01.dat")
    with pytest.raises(DeapFormatError, match="is a character device, expected a regular file"):
        DeapDataset(deap).read_trial("s01", 1)
    (data_dir / "s01.dat").unlink()
    (data_dir / "s01.dat").mkdir()
    with pytest.raises(DeapFormatError, match=r"s01.dat: .*is a directory, expected a regular file"):
        DeapDataset(deap).read_trial("s01", 1)
    (data_dir / "s01.dat").rmdir()
    os.symlink(tmp_path / "nowhere.dat", data_dir / "s01.dat")
    with pytest.raises(DeapFormatError, match="dangling symbolic link to"):
        DeapDataset(deap).read_trial("s01", 1)


# -- MATLAB files: bounded decompression -----------------------------------------------------------------------


def mat_header():
    text = b"MATLAB 5.0 MAT-file, written by emorecog's tests"
    return text.ljust(116, b" ") + bytes(8) + struct.pack("<H", 0x0100) + b"IM"


def matrix_element(name, shape, real_bytes, declared_real_bytes=None):
    """An uncompressed miMATRIX element (tag + body) of a double array."""
    name_bytes = name.encode()
    flags = struct.pack("<II", 6, 8) + struct.pack("<II", 6, 0)  # miUINT32, mxDOUBLE_CLASS
    dims = struct.pack("<II", 5, 4 * len(shape)) + struct.pack(f"<{len(shape)}i", *shape)
    dims += bytes((-len(dims)) % 8)
    name_element = struct.pack("<II", 1, len(name_bytes)) + name_bytes + bytes((-len(name_bytes)) % 8)
    real_length = len(real_bytes) if declared_real_bytes is None else declared_real_bytes
    real = struct.pack("<II", 9, real_length) + real_bytes
    body = flags + dims + name_element + real
    declared_body = len(body) - len(real_bytes) + real_length
    return struct.pack("<II", 14, declared_body) + body


def compressed(element, zero_bytes_after=0):
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(element)]
    chunk = bytes(1 << 20)
    for _ in range(zero_bytes_after // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.flush())
    data = b"".join(parts)
    return struct.pack("<II", 15, len(data)) + data


def test_a_handwritten_compressed_mat_reads_like_scipy(tmp_path):
    from scipy import io as scipy_io

    values = np.arange(12.0).reshape(3, 4)
    element = matrix_element("labels", (3, 4), values.T.astype("<f8").tobytes())  # MATLAB is column-major
    path = write(tmp_path / "s01.mat", mat_header() + compressed(element))
    np.testing.assert_array_equal(load_safe_mat(path, ["labels"])["labels"], values)
    np.testing.assert_array_equal(scipy_io.loadmat(path)["labels"], values)


def test_zlib_bomb_declaring_gigabytes_is_refused_before_inflating(tmp_path):
    """A compressed variable whose header declares 3.8 GB (data [40, 40, 300000]) in a small file."""
    shape = (40, 40, 300_000)
    declared = 8 * 40 * 40 * 300_000
    element = matrix_element("data", shape, b"", declared_real_bytes=declared)
    path = write(tmp_path / "s01.mat", mat_header() + compressed(element, zero_bytes_after=64 << 20))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(UnsafeMatFileError, match="refused the variable at byte 128") as caught:
        load_safe_mat(path, ["data", "labels"])
    assert isinstance(caught.value, RefusedFileError)
    peak = peak_rss_of_refused_load("emorecog.datasets.safe_mat.load_safe_mat", path, ["data"])
    assert peak < BOMB_PEAK_RSS_LIMIT_MB, peak


def test_zlib_stream_inflating_past_its_declared_size_is_refused(tmp_path):
    """The header declares a few bytes; the stream goes on with 256 MB of zeros."""
    element = matrix_element("data", (1, 2), bytes(16))
    path = write(tmp_path / "s01.mat", mat_header() + compressed(element, zero_bytes_after=256 << 20))
    with pytest.raises(UnsafeMatFileError, match="inflates to more than"):
        load_safe_mat(path, ["data"])
    peak = peak_rss_of_refused_load("emorecog.datasets.safe_mat.load_safe_mat", path, ["data"])
    assert peak < BOMB_PEAK_RSS_LIMIT_MB, peak


def test_unwanted_variables_are_never_inflated(tmp_path):
    labels = matrix_element("labels", (1, 4), np.full(4, 5.0).tobytes())
    bomb = compressed(matrix_element("data", (1, 2), bytes(16)), zero_bytes_after=64 << 20)
    path = write(tmp_path / "s01.mat", mat_header() + bomb + labels)
    np.testing.assert_array_equal(load_safe_mat(path, ["labels"])["labels"], [[5.0] * 4])


@pytest.mark.parametrize("compress", [True, False])
def test_a_truncated_mat_is_reported_truncated_not_a_missing_field(tmp_path, compress):
    from scipy import io as scipy_io

    path = tmp_path / "s01.mat"
    scipy_io.savemat(
        path,
        {"data": np.random.default_rng(0).normal(size=(2, 40, 500)), "labels": np.ones((2, 4))},
        do_compression=compress,
    )
    data = path.read_bytes()
    for cut in (130, len(data) // 2, len(data) - 3):
        path.write_bytes(data[:cut])
        with pytest.raises(TruncatedMatFileError, match="truncated MATLAB file"):
            load_safe_mat(path, ["data", "labels"])


def test_matlab_layout_errors_name_the_file(tmp_path):
    from scipy import io as scipy_io

    deap = tmp_path / "deap"
    (deap / "data_preprocessed_matlab").mkdir(parents=True)
    path = deap / "data_preprocessed_matlab" / "s01.mat"
    scipy_io.savemat(path, {"data": np.zeros((1, 40, 500)), "labels": np.full((1, 4), 5.0)}, do_compression=True)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DeapFormatError, match=r"s01.mat: not a readable MATLAB file \(truncated"):
        DeapDataset(deap).read_trial("s01", 1)
    path.write_bytes(mat_header() + compressed(matrix_element("labels", (1, 4), b"", declared_real_bytes=1 << 31)))
    with pytest.raises(UnsafeMatFileError, match="refused"):
        DeapDataset(deap).trial_keys()


# -- participant_ratings.csv ----------------------------------------------------------------------------------


def ratings_rows(deap):
    with open(os.path.join(deap, "metadata_csv", "participant_ratings.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


def write_ratings_rows(deap, rows):
    with open(os.path.join(deap, "metadata_csv", "participant_ratings.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_swapped_experiment_ids_are_caught_by_the_ratings_cross_check(damageable_deap):
    rows = ratings_rows(damageable_deap)
    first, second = [index for index, row in enumerate(rows) if row["Participant_id"] == "2"][:2]
    rows[first]["Experiment_id"], rows[second]["Experiment_id"] = (
        rows[second]["Experiment_id"],
        rows[first]["Experiment_id"],
    )
    write_ratings_rows(damageable_deap, rows)
    dataset = DeapDataset(damageable_deap)
    assert dataset.read_trial("s01", 1).trial == 1  # the other subject is fine
    with pytest.raises(DeapFormatError) as caught:
        dataset.trial_keys("s02")
    message = str(caught.value)
    for fragment in (
        "participant_ratings.csv",
        "participant 2 (s02)",
        f"line {first + 2}",
        f"line {second + 2}",
        "disagree with field 'labels'",
        "s02.dat",
        "swapped Experiment_id",
    ):
        assert fragment in message, (fragment, message)


def test_a_binary_ratings_csv_is_named_in_inspect(damageable_deap):
    path = os.path.join(damageable_deap, "metadata_csv", "participant_ratings.csv")
    with open(path, "wb") as handle:
        handle.write(b"Participant_id,Trial\n" + bytes(range(256)) * 4)
    result = CliRunner().invoke(cli, ["inspect", "--deap", str(damageable_deap)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert "participant_ratings.csv: not a UTF-8 text CSV" in result.output


def test_hostile_pickle_in_inspect_is_one_error_line_in_a_real_process(damageable_deap):
    """The deep-tuple key crashed `inspect` with a segmentation fault; now: one Error line, exit 1."""
    path = os.path.join(damageable_deap, "data_preprocessed_python", "s02.dat")
    with open(path, "wb") as handle:
        handle.write(PROTO2 + EMPTY_DICT + b")" + b"\x85" * 100_000 + short_string("v") + SETITEM + STOP)
    result = subprocess.run(
        [sys.executable, "-m", "emorecog.cli", "inspect", "--deap", str(damageable_deap)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "s02.dat" in result.stderr and "tuples nested 5 deep" in result.stderr


# -- ExampleGen: a truncated file is skipped with --on-error skip, a refused one stops the run -----------------


def test_example_gen_skips_a_truncated_subject_and_stops_on_a_refused_one(damageable_deap):
    from emorecog.components import beam_runner, example_gen, trial_plan

    path = os.path.join(damageable_deap, "data_preprocessed_python", "s02.dat")
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[: data.index(b"numpy.core.multi") + 16])  # cut inside a GLOBAL line
    keys, skipped = trial_plan.list_trials(DeapDataset(damageable_deap), "skip")
    assert {key.subject for key in keys} == {"s01"}
    assert [record["subject"] for record in skipped] == ["s02"] and "truncated" in skipped[0]["reason"]
    with pytest.raises(example_gen.ExampleGenError, match="on_error='stop'.*truncated"):
        trial_plan.list_trials(DeapDataset(damageable_deap), "stop")

    with open(path, "wb") as handle:
        handle.write(pickle.dumps({"data": print, "labels": np.ones((1, 4))}, protocol=2))
    executor = example_gen.ExampleGenExecutor(beam_runner.beam_pipeline_flags(num_workers=1))
    parameters = example_gen.example_gen_parameters(on_error="skip")
    with pytest.raises(example_gen.ExampleGenError, match="refused global '__builtin__.print'.*stops the run"):
        executor(parameters, {"source": str(damageable_deap)}, os.path.join(damageable_deap, "..", "staging"))
