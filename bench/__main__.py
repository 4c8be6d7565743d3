"""`python -m bench [name ...]`: run benchmarks (all by default) and append to bench/RESULTS.md."""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from bench import append_results

BENCHMARKS = [
    "bench.bench_wordnet",
    "bench.bench_ingest",
    "bench.bench_aggregation",
    "bench.bench_consensus",
    "bench.bench_serving",
    "bench.bench_grid",
    "bench.bench_dedup",
    "bench.bench_dedup_scale",
    "bench.bench_export",
    "bench.bench_leakage",
    "bench.bench_prelabel",
    "bench.bench_training",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmark modules (e.g. bench_wordnet)")
    parser.add_argument("--dry-run", action="store_true", help="print, do not append to RESULTS.md")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHMARKS if not args.names or b.rsplit(".", 1)[-1] in args.names]
    failures = 0
    for name in chosen:
        print(f"== {name}", flush=True)
        try:
            title, body = importlib.import_module(name).run()
        except Exception:
            traceback.print_exc()
            failures += 1
            continue
        print(body, flush=True)
        if not args.dry_run:
            append_results(title, body)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
