"""Two versions of the build, alternated on one store: the A/B measurement the build's changes need.

Run: ``python -m benchmarks.bench_ab --db data/bench/build-work.duckdb --rev HEAD~1 --rev HEAD``
(or ``--tree DIR`` for a source tree as it is, working changes included; ``--pairs N``).

On this 2-core machine one full build of the same code varies by 3-5 s from run to run (22-29 s at
1M players), as much as most single changes are worth, so a change is measured against the commit
before it, alternated on one store: each version's ``pipelines``, ``metrics`` and ``app`` are taken
from ``git archive`` (or the given tree), and every build runs in a fresh process with that tree
first on ``sys.path``. Each run is a forced full build with model fits (``build(..., force=True,
full=True, refit=True)``, what ``bench_build`` times first); it prints its total wall and CPU time
and each stage's wall time from the build's own stage log (the shards summed). Then a table per
stage: every run's figure, by version. Nothing is asserted: the figures are for reading.

The store is written to (each build replaces the snapshots of its as_of): use a scratch copy such
as ``bench_build``'s ``data/bench/build-work.duckdb``, never a store anyone reads.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipelines", "metrics", "app")

# What a child runs: one forced full build of the store, its stage marks as JSON on the last line.
CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import pipelines
from pipelines.build import build
from pipelines.store import Store
marks = []
def progress(stage):
    marks.append((time.perf_counter(), stage))
with Store(sys.argv[2]) as store:
    wall, cpu = time.perf_counter(), time.process_time()
    marks.append((wall, "before the first stage"))
    build(store, actor="bench-ab", force=True, full=True, refit=True, progress=progress)
    marks.append((time.perf_counter(), "end"))
    print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "marks": marks,
                      "source": pipelines.__file__}))
"""


def stage_times(marks: list[tuple[float, str]]) -> dict[str, float]:
    """Wall seconds per stage from (time, stage) marks, in order; the shards' marks summed as one."""
    out: dict[str, float] = {}
    for (at, stage), (until, _) in zip(marks, marks[1:]):
        name = "shards" if stage.startswith("metrics: shard") else stage
        out[name] = out.get(name, 0.0) + until - at
    return out


def archive(rev: str, into: Path) -> Path:
    """The packages of a git revision extracted into a folder of their own."""
    into.mkdir(parents=True)
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, *PACKAGES], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar, check=True)
    return into


def run_build(tree: Path, db: Path) -> dict:
    """One forced full build by the code in ``tree``, in a fresh process: wall, cpu, stages."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(db)], capture_output=True, text=True,
                          cwd=tree)
    if done.returncode != 0:
        raise SystemExit(f"the build of {tree} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(result["source"]).resolve().is_relative_to(tree.resolve()):  # an installed copy won
        raise SystemExit(f"the build meant to run {tree} imported {result['source']}")
    return {"wall": result["wall"], "cpu": result["cpu"], "stages": stage_times(result["marks"])}


def table(runs: dict[str, list[dict]]) -> str:
    """Every run's total and stage times, one row per stage, one column group per version."""
    labels = list(runs)
    stages = list(dict.fromkeys(s for results in runs.values() for r in results for s in r["stages"]))
    head = "stage".ljust(44) + " | ".join(labels)
    rows = [head, "-" * len(head)]

    def cell(values: list[float]) -> str:
        return " ".join(f"{v:6.2f}" for v in values)

    rows.append("total wall (s)".ljust(44) + " | ".join(cell([r["wall"] for r in runs[k]]) for k in labels))
    rows.append("total CPU (s)".ljust(44) + " | ".join(cell([r["cpu"] for r in runs[k]]) for k in labels))
    for stage in stages:
        rows.append(stage[:42].ljust(44)
                    + " | ".join(cell([r["stages"].get(stage, 0.0) for r in runs[k]]) for k in labels))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="a scratch store to build (it is written to)")
    parser.add_argument("--rev", action="append", default=[], help="a git revision to measure (repeatable)")
    parser.add_argument("--tree", action="append", default=[], type=Path,
                        help="a source tree holding pipelines/ and metrics/ (repeatable; . for the working tree)")
    parser.add_argument("--pairs", type=int, default=3, help="rounds of one build per version")
    args = parser.parse_args(argv)
    if not args.db.exists():
        parser.error(f"{args.db}: no such store")
    if len(args.rev) + len(args.tree) < 1:
        parser.error("give at least one --rev or --tree")
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        versions = {f"rev {rev}": archive(rev, Path(tmp) / f"rev{k}") for k, rev in enumerate(args.rev)}
        versions |= {f"tree {tree}": tree.resolve() for tree in args.tree}
        runs: dict[str, list[dict]] = {label: [] for label in versions}
        for round_ in range(1, args.pairs + 1):
            for label, tree in versions.items():
                result = run_build(tree, args.db.resolve())
                runs[label].append(result)
                print(f"round {round_}: {label}: {result['wall']:.2f} s, CPU {result['cpu']:.1f} s", flush=True)
    print(table(runs))


if __name__ == "__main__":
    main()
