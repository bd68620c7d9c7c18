"""How ExampleGen's Beam pipeline runs: importing Beam, pipeline options, the runner, the workers' log.

`runner="DirectRunner"` (the default) runs Beam's portable FnApiRunner, the engine Beam's DirectRunner
uses for batch pipelines, with `direct_running_mode=multi_processing` and one worker per core. Beam 2.77's
`DirectRunner` would first try its "Prism" runner, which downloads a binary from GitHub at run time; calling
the FnApiRunner directly skips that, so a local run needs no network. Any other runner (DataflowRunner,
FlinkRunner, SparkRunner, PrismRunner, ...) is chosen by name and configured with pipeline options
(`--flag=value` strings passed through unchanged).
"""

import contextlib
import logging
import os
import sys

DIRECT_RUNNER = "DirectRunner"


def import_beam_quietly():
    """`apache_beam`, imported without the warning its import logs about optional GCP clients."""
    # Beam's import logs "apitools not found ..." on the root logger (its GCP clients are optional and not
    # installed): a warning about Dataflow that a local user cannot act on.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        import apache_beam
    finally:
        root.setLevel(level)
    return apache_beam


beam = import_beam_quietly()


def beam_pipeline_flags(runner=DIRECT_RUNNER, num_workers=None, beam_options=()):
    """Beam pipeline options as `--flag=value` strings.

    Args:
        runner: Beam runner name. For "DirectRunner" the defaults are multi-process execution with
            `num_workers` workers (default: one per core).
        num_workers: DirectRunner worker processes (1 runs in this process).
        beam_options: extra options, "--key=value" or "key=value"; they win over the defaults
            (e.g. "direct_running_mode=multi_threading", or "project=..." for Dataflow).

    Returns:
        A list of flags for `PipelineOptions`.
    """
    runner = runner or DIRECT_RUNNER
    flags = [option if option.startswith("--") else f"--{option}" for option in beam_options]
    given = {flag[2:].split("=", 1)[0] for flag in flags}
    if "runner" in given:
        named = [flag.split("=", 1)[1] for flag in flags if flag.startswith("--runner=")]
        if runner != DIRECT_RUNNER and named and named[-1] != runner:
            raise ValueError(f"runner {runner!r} conflicts with the Beam option --runner={named[-1]}")
        runner = named[-1] if named else runner
    else:
        flags.append(f"--runner={runner}")
    if runner == DIRECT_RUNNER:
        workers = num_workers or os.cpu_count() or 1
        if "direct_num_workers" not in given:
            flags.append(f"--direct_num_workers={workers}")
        if "direct_running_mode" not in given:
            flags.append(f"--direct_running_mode={'multi_processing' if workers > 1 else 'in_memory'}")
    if "default_sdk_harness_log_level" not in given:
        flags.append("--default_sdk_harness_log_level=WARNING")
    return flags


def make_pipeline(flags):
    """A `beam.Pipeline` for `flags` (see `beam_pipeline_flags`); DirectRunner never fetches Prism.

    For "DirectRunner" the pipeline runs on Beam's FnApiRunner directly: the engine that Beam's
    DirectRunner itself picks for batch pipelines once its Prism attempt is over, configured the same
    way (pipeline options handed to the SDK workers through the provision info).
    """
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    options = PipelineOptions(flags)
    if options.view_as(StandardOptions).runner != DIRECT_RUNNER:
        return beam.Pipeline(options=options)
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision_info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return beam.Pipeline(runner=fn_runner.FnApiRunner(provision_info=provision_info), options=options)


@contextlib.contextmanager
def stderr_to(path):
    """Send file descriptor 2 (this process's and its worker subprocesses' stderr) to `path` for a while."""
    if path is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)
