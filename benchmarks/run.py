"""Run every benchmark (or some) and write their results with machine information to JSON.

    python -m benchmarks.run [--quick] [--only eeg_images,model] [--out benchmarks/results]

Speed goals are ratios against a reference measured in the same run (machines are shared and noisy), so
each benchmark reports its own reference next to its figure and whether its goal was met.
"""

import argparse
import datetime
import importlib
import json
import os
import pkgutil
import platform
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GLOG_minloglevel", "2")
# As in the CLI: oneDNN makes the glimpse model's small per-glimpse convolutions several times slower.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

BENCHMARK_PREFIX = "bench_"


def machine_info():
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as handle:
            models = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        info["cpu_model"] = models[0] if models else None
    except OSError:
        info["cpu_model"] = None
    try:
        with open("/proc/meminfo") as handle:
            total_kib = int(handle.readline().split()[1])
        info["memory_gib"] = round(total_kib / 2**20, 1)
    except (OSError, ValueError, IndexError):
        info["memory_gib"] = None
    for package in ("numpy", "tensorflow", "keras", "mediapipe", "apache_beam"):
        try:
            from importlib import metadata

            info[f"{package}_version"] = metadata.version(package.replace("_", "-"))
        except Exception:  # a missing optional package is recorded as such
            info[f"{package}_version"] = None
    return info


def available_benchmarks():
    package_dir = os.path.dirname(os.path.abspath(__file__))
    return sorted(
        name[len(BENCHMARK_PREFIX) :]
        for _, name, _ in pkgutil.iter_modules([package_dir])
        if name.startswith(BENCHMARK_PREFIX)
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    args = parser.parse_args(argv)

    names = available_benchmarks()
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown benchmarks {unknown}; available: {names}")
        names = wanted

    report = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine_info(),
        "benchmarks": {},
    }
    failures = 0
    for name in names:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{BENCHMARK_PREFIX}{name}")
            result = module.run(quick=args.quick)
        except Exception:
            failures += 1
            result = {"error": traceback.format_exc()}
        result["seconds"] = round(time.perf_counter() - started, 2)
        report["benchmarks"][name] = result
        print(json.dumps(result, indent=2, default=str), flush=True)

    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for filename in (f"results-{stamp}.json", "latest.json"):
        path = os.path.join(args.out, filename)
        temporary = path + ".tmp"
        with open(temporary, "w") as handle:
            json.dump(report, handle, indent=2, default=str)
        os.replace(temporary, path)
    print(f"wrote {os.path.join(args.out, 'latest.json')}")
    goals = {name: result.get("goal_met") for name, result in report["benchmarks"].items()}
    print("goals met:", goals)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
