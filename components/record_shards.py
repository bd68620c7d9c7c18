"""Where ExampleGen's records go: the plan of shards, one-record GZIP members, and the shard writer.

Every trial is planned before the pipeline runs (`plan_elements`): its split, its shard and its position
in the shard (trials of a split in (subject, trial) order, cut into equal consecutive shards).
`ReadTrials` hands the planned trials to the workers in the plan's order. A worker writes a trial's
record to disk at once as a one-record GZIP member in a staging folder (`gzip_record_member`,
`stage_record_member`); only a small reference travels on. `WriteSplits` groups the references by shard
and `WriteShardDoFn` concatenates a shard's members in position order, streaming (GZIP members
concatenate into one valid GZIP file), into a file renamed into place when complete.

Memory is therefore bounded by the trials in flight (one per worker), whatever the dataset size: no step
holds records (a `WriteToTFRecord` with a fixed shard count would group every record in the runner's
memory before writing). The output bytes do not depend on the runner or its number of workers: shard
contents and order come from the plan, records serialise deterministically, GZIP members carry no time
stamp.
"""

import gzip
import io
import math
import os
import shutil

from emorecog import splits
from emorecog.components.beam_runner import beam
from emorecog.datasets import tfrecord_reader

# How records are placed in shard files; part of ExampleGen's config hash, so outputs of another placement
# (such as the worker-dependent one of earlier versions) are not reused as if equal.
RECORD_LAYOUT = "per split: (subject, trial) order, equal consecutive shards of at most records_per_shard"
# zlib's default level: on these records (JPEG crops and float32 energies, both nearly incompressible)
# level 9 takes ~3x longer for < 1 % fewer bytes.
GZIP_LEVEL = 6


def plan_elements(keys, assignment, records_per_shard):
    """The pipeline's elements in the order the workers should get them, and the shard count per split.

    Each element names its trial, split, shard and position in the shard. Within a split, trials in
    (subject, trial) order are cut into equal consecutive shards of at most `records_per_shard`. The list
    is ordered face trials first (each costs ~50x an EEG-only trial), so a runner that deals elements to
    its workers in turn gives every worker the same share of the expensive ones.

    Returns:
        (elements, {split: number of shards}).
    """
    elements, shards = [], {}
    for name in splits.SPLIT_NAMES:
        members = sorted(
            (key for key in keys if assignment[(key.subject, key.trial)] == name),
            key=lambda key: (key.subject, key.trial),
        )
        count = max(1, math.ceil(len(members) / records_per_shard))
        shards[name] = count
        per_shard = math.ceil(len(members) / count) if members else 1
        for index, key in enumerate(members):
            elements.append(
                {
                    "subject": key.subject,
                    "trial": key.trial,
                    "split": name,
                    "shard": index // per_shard,
                    "position": index % per_shard,
                    "has_face_video": key.face_video is not None,
                    "key": key,
                }
            )
    elements.sort(key=lambda element: (not element["has_face_video"], element["subject"], element["trial"]))
    return elements, shards


def shard_path(output_dir, split, shard, num_shards):
    """`<out>/Split-<split>/data_tfrecord-NNNNN-of-MMMMM.gz` (the TFX layout)."""
    return os.path.join(
        output_dir,
        f"Split-{split}",
        f"{tfrecord_reader.RECORD_FILE_PREFIX}-{shard:05d}-of-{num_shards:05d}{tfrecord_reader.RECORD_FILE_SUFFIX}",
    )


def gzip_record_member(serialized):
    """One TFRecord (length, CRCs, data) as a complete GZIP member with no time stamp (same bytes every run)."""
    from apache_beam.io.tfrecordio import _TFRecordUtil  # Beam's own TFRecord framing, as its TFRecord sink

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as member:
        _TFRecordUtil.write_record(member, serialized)
    return buffer.getvalue()


def stage_record_member(staging_dir, element, member):
    """Write a planned trial's GZIP member under `staging_dir` (atomically: a retried bundle rewrites it)."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    name = f"{element['split']}-{element['shard']:05d}-{element['position']:05d}.gz"
    path = FileSystems.join(staging_dir, name)
    partial = f"{path}.partial-{os.getpid()}"
    with FileSystems.create(partial, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(member)
    FileSystems.rename([partial], [path])
    return path


class WriteShardDoFn(beam.DoFn):
    """((split, shard), [(position, staged member or None), ...]) -> the shard's TFRecord file.

    Copies the members in position order, 1 MB at a time, into a hidden partial file that is renamed into
    place when complete, then deletes the members. A shard whose trials were all skipped is an empty GZIP
    stream (a valid file of zero records), so the -NNNNN-of-MMMMM names stay complete.

    Args:
        output_dir: where the Split-* folders are.
        shards: {split: number of shards} (`plan_elements`).
    """

    def __init__(self, output_dir, shards):
        self.output_dir = output_dir
        self.shards = dict(shards)

    def process(self, keyed):
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        (split, shard), parts = keyed
        members = [path for _, path in sorted(parts, key=lambda part: part[0]) if path is not None]
        path = shard_path(self.output_dir, split, shard, self.shards[split])
        partial = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.partial-{os.getpid()}")
        uncompressed = CompressionTypes.UNCOMPRESSED
        with FileSystems.create(partial, compression_type=uncompressed) as out:
            for member in members:
                with FileSystems.open(member, compression_type=uncompressed) as source:
                    shutil.copyfileobj(source, out, 1 << 20)
            if not members:
                out.write(gzip.compress(b"", mtime=0))
        FileSystems.rename([partial], [path])
        if members:
            FileSystems.delete(members)
        yield path


class ReadTrials(beam.PTransform):
    """The planned elements, dealt to the workers in the plan's order (face trials first).

    A GroupByKey on the element's index is Beam's Reshuffle with keys that keep the plan's order: the local
    runner deals them to its workers in turn (Reshuffle's random keys could give one worker most face trials).
    """

    def __init__(self, elements):
        super().__init__()
        self.elements = list(elements)

    def expand(self, pipeline):
        return (
            pipeline
            | "PlannedTrials" >> beam.Create(list(enumerate(self.elements)), reshuffle=False)
            | "DistributeTrials" >> beam.GroupByKey()
            | "Trials" >> beam.FlatMap(lambda indexed: indexed[1])
        )


class WriteSplits(beam.PTransform):
    """((split, shard), (position, staged member or None)) -> every planned shard file of every split.

    A split without planned trials still gets its one (empty) shard file, as every split folder exists.

    Args:
        output_dir: where the Split-* folders are.
        shards: {split: number of shards} (`plan_elements`).
        planned_splits: the splits that have planned trials.
    """

    def __init__(self, output_dir, shards, planned_splits):
        super().__init__()
        self.output_dir = output_dir
        self.shards = dict(shards)
        self.empty_splits = sorted(set(self.shards) - set(planned_splits))

    def expand(self, staged):
        empty_shards = staged.pipeline | "EmptySplits" >> beam.Create(
            [((name, 0), (0, None)) for name in self.empty_splits]
        )
        return (
            (staged, empty_shards)
            | "AllShards" >> beam.Flatten()
            | "ByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(WriteShardDoFn(self.output_dir, self.shards))
        )
