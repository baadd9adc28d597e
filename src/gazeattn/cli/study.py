"""`gazeattn study [SPEC.toml] --out DIR`: run a declared grid of worlds × cells × seeds, resumably, and report
each cell's mean and 95 % interval over seeds and the paired differences (docs/evaluation.md, "Studies")."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gazeattn.study.slurm_settings import EXECUTORS
from gazeattn.utils.errors import DataError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gazeattn study", description=__doc__.split("\n\n")[0])
    p.add_argument("spec", nargs="?", help="the study spec (TOML; default: the project's studies/default.toml)")
    p.add_argument("--out", required=True, help="study folder (worlds/, runs/, study.json, study.md, plots/)")
    p.add_argument("--quick", action="store_true", help="the built-in laptop grid instead of a spec: one small "
                   "world per seed, gaze-direct / gaze-gumbel / i3d, 2 seeds, 150 steps")
    p.add_argument("--only", action="extend", nargs="+", default=[], metavar="WORLD/CELL",
                   help="run only these (world, cell) pairs (shell wildcards; repeatable); the report covers "
                   "every finished run")
    p.add_argument("--dry-run", action="store_true", help="list the runs and what would be done; run nothing")
    p.add_argument("--workers", type=int, help="DataLoader workers of every run (does not change results; default "
                   "chosen from the usable cores, see gazeattn.train.parallelism; 1 with --jobs > 1)")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once in worker processes sharing the cores "
                   "(default 1; 2 on a 2-core machine trains ~30 %% more runs per hour)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--status", action="store_true", help="print where each run stands (done / running / queued / "
                   "failed, with Slurm job ids and logs, or what a run of the study would do) and exit")
    p.add_argument("--run-index", type=int, metavar="I", help="train and evaluate only run I of the plan (in "
                   "--dry-run's order; e.g. $SLURM_ARRAY_TASK_ID) without the study folder's lock, and write no report "
                   "(docs/slurm/study-array.sbatch)")
    p.add_argument("--report-only", action="store_true", help="train nothing; write the report of the finished runs")
    p.add_argument("--executor", choices=EXECUTORS, default="local", help="where the runs train: 'local' (this "
                   "machine, --jobs at a time; default) or 'slurm' (one job array through submitit, this command "
                   "waits; rerun it to re-attach)")
    slurm = p.add_argument_group("Slurm (--executor slurm; default: the spec's [executor] table)")
    slurm.add_argument("--partition", help="sbatch --partition")
    slurm.add_argument("--account", help="sbatch --account")
    slurm.add_argument("--time", type=int, metavar="MINUTES", help="time limit per run (a run stopped by it is "
                       "requeued and resumes; default 240)")
    slurm.add_argument("--mem-gb", type=float, help="memory per run (default: the cluster's default)")
    slurm.add_argument("--gpus-per-cell", type=int, help="GPUs per run (default 1; 0 on CPU partitions)")
    slurm.add_argument("--cpus-per-cell", type=int, help="CPUs per run (default 8)")
    slurm.add_argument("--array-parallelism", type=int, help="runs of the array running at once (default 64)")
    slurm.add_argument("--poll-seconds", type=float, help="how often the queue is read while waiting (default 30)")
    p.add_argument("--select-on", choices=("validation",), help="after the report, name per world and model variant "
                   "the cell with the best mean class accuracy on the validation clips (cells with "
                   "data.validation_fraction > 0; the choice of a learning rate × steps tuning grid)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    problem = _argument_problem(args)
    if problem:
        print(f"gazeattn study: error: {problem}", file=sys.stderr)
        return 2
    if args.jobs > 1 and args.workers is None:
        args.workers = 1
    spec = _spec_of(args)
    try:
        outcome = _run(spec, args, argv)
    except KeyboardInterrupt:
        print("\ngazeattn study: interrupted; rerun the same command to continue (finished runs are kept, the "
              "interrupted one resumes from its last checkpoint)", file=sys.stderr)
        return 130
    except DataError:
        raise  # the dispatcher prints it as one line (file first)
    except ValueError as err:
        print(f"gazeattn study: error: {err}", file=sys.stderr)
        return 2
    return outcome if isinstance(outcome, int) else _print_outcome(outcome, args)


def _argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the options together, in one line, or None."""
    if args.quick and args.spec:
        return "give a SPEC file or --quick, not both"
    if args.jobs < 1:
        return f"--jobs must be >= 1, got {args.jobs}"
    if args.workers is not None and args.workers < 0:
        return f"--workers must be >= 0, got {args.workers}"
    if args.run_index is not None and (args.executor != "local" or args.report_only or args.dry_run or args.status):
        return ("--run-index runs one run here; it goes with none of --executor slurm, --report-only, --dry-run, "
                "--status")
    return None


def _spec_of(args: argparse.Namespace):
    """The study spec: ``--quick``'s, the SPEC file's, or the project's default."""
    from gazeattn.study.spec import DEFAULT_SPEC, load_spec, quick_spec

    if args.quick:
        return quick_spec()
    path = Path(args.spec) if args.spec else DEFAULT_SPEC
    if not args.spec and not path.is_file():
        raise DataError(path, "the project's default study spec is not in this installation; pass a SPEC file")
    return load_spec(path)


def _run(spec, args: argparse.Namespace, argv: list[str]):
    """What the options ask: the status, one run (``--run-index``), the plan (``--dry-run``) -- each an exit
    status -- or the study itself, its StudyResult."""
    from gazeattn.study.plan import plan_study
    from gazeattn.study.runner import run_study

    if args.status:
        from gazeattn.study.status import format_status, study_status

        print(format_status(*study_status(spec, args.out, only=args.only)))
        return 0
    slurm = _slurm_settings(spec, args)
    if args.run_index is not None:
        from gazeattn.study.one_run import run_one

        _, did = run_one(spec, args.out, args.run_index, only=args.only, workers=args.workers)
        return 3 if did == "failed" else 0
    if args.dry_run:
        _print_plan(spec, plan_study(spec, args.out, only=args.only, workers=args.workers))
        return 0
    return run_study(spec, args.out, only=args.only, workers=args.workers, jobs=args.jobs,
                     progress=not args.no_progress, slurm=slurm, report_only=args.report_only,
                     command=["gazeattn", "study", *argv])


def _print_outcome(result, args: argparse.Namespace) -> int:
    """The study's comparisons of mean class accuracy, the selection (``--select-on``), where the report is, and
    the failed runs (exit status 3 when there are any)."""
    report = result.report or {}
    said = [f"- [{c['world']}] {c['sentence']}" for c in report.get("comparisons", [])
            if c["metric"] == "mean_class_accuracy"]
    if said:
        print("\n" + "\n".join(said))
    if args.select_on:
        _print_selection(report, args.select_on)
    print(f"\n{len(report.get('runs', []))} of {report.get('grid_size', 0)} runs finished "
          f"({result.seconds:.0f} s this time); report: {result.md_path} and {result.json_path}")
    failed = report.get("failed", [])
    if failed:
        print(f"gazeattn study: {len(failed)} run(s) failed and are left out of the statistics: "
              f"{', '.join(failed)} (their failed.json says why; delete it to retry the run)", file=sys.stderr)
        return 3
    return 0


def _slurm_settings(spec, args):
    """The SlurmSettings of ``--executor slurm`` (the spec's [executor] table, then the options), else None.
    ValueError for a bad value; the Slurm options without ``--executor slurm`` are refused."""
    from gazeattn.study.slurm_settings import SlurmSettings

    given = {"partition": args.partition, "account": args.account, "time": args.time, "mem_gb": args.mem_gb,
             "gpus_per_cell": args.gpus_per_cell, "cpus_per_cell": args.cpus_per_cell,
             "array_parallelism": args.array_parallelism, "poll_seconds": args.poll_seconds}
    if args.executor != "slurm":
        named = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None]
        if named:
            raise ValueError(f"{', '.join(named)} only apply with --executor slurm")
        return None
    if args.jobs != 1:
        raise ValueError("--jobs is for the local executor; with --executor slurm use --array-parallelism")
    return SlurmSettings.from_table(spec.executor, **given)


def _print_selection(report, select_on: str) -> None:
    from gazeattn.study.selection import SELECT_ON, best_cells, selection_line

    rows = best_cells(report.get("aggregates", {}), SELECT_ON[select_on])
    if not rows:
        print(f"\nno cell has {select_on} metrics: set data.validation_fraction > 0 in the spec (study.set)")
        return
    print(f"\nselected on the {select_on} clips:\n" + "\n".join(f"- {selection_line(r)}" for r in rows))


def _print_plan(spec, plan) -> None:
    from gazeattn.study.plan import PLAN_WORDS

    print(f"{spec.title or spec.source}: {len(spec.grid())} runs over {len(spec.worlds)} world(s), "
          f"{len(spec.cells)} cell(s), seeds {', '.join(map(str, spec.seeds))}; baseline {spec.baseline or '(none)'}; "
          f"preset {spec.preset}")
    for world in spec.worlds:
        seeds = f" (seeds {', '.join(map(str, world.seeds))})" if world.seeds else ""
        print(f"  world {world.name}: {world.describe()}{seeds}")
    for cell in spec.cells:
        where = f" on {', '.join(cell.worlds)}" if cell.worlds else ""
        seeds = f", seeds {', '.join(map(str, cell.seeds))}" if cell.seeds else ""
        print(f"  cell {cell.name}: {cell.describe()}{where}{seeds}")
    width = max((len(r.key) for r in plan), default=0)
    for index, run in enumerate(plan):
        print(f"{run.key:<{width}}  {run.cell.model:<14}  {run.config.run.steps:>6} steps  "
              f"{PLAN_WORDS[run.status]:<24}  {run.run_dir}  (--run-index {index})")
    counts = {s: sum(r.status == s for r in plan) for s in PLAN_WORDS}
    print(", ".join(f"{n} {PLAN_WORDS[s].split(':')[0]}" for s, n in counts.items() if n) or "nothing selected")
