"""Speed of the in-process dendritic engine against the Brian2 path, in one run.

    python bench/dendritic_engine_speed.py            # everything (~3-5 min on 2 cores)
    python bench/dendritic_engine_speed.py --seeds 10 --brian2-presentations 30

Writes Markdown to ``bench/results/dendritic_engine_speed.md`` (first line: the command) and
prints it. Sections:

1. **Presentations per second** on the main job's network (``pattern_discrimination``
   defaults: 32 inputs, 8 pyramidal, 2 interneurons, 2 readouts, 250 ms presentations at
   dt = 0.1 ms, 20 % mismatch, learning with the teacher on): the Brian2
   ``cpp_standalone`` path (one ``device.run`` per presentation) against the engine (one
   chip per call), and the engine with ``--seeds`` chips per call.
2. **The whole main job for ``--seeds`` seeds**: ten single runs in one process, one after
   the other, against one :func:`~dendritic_snn.dendritic.batch.run_batched` call (one
   worker process per core; the metrics must be identical), and ten separate ``dsnn task``
   processes as a user would launch them, one after the other and one per core at a time;
   plus the main job on the Brian2 path (``--set engine=brian2``, its build
   cached by the first section) for comparison.
3. **Cold main job** (``--cold-runs`` times, median): ``dsnn task pattern_discrimination``
   in a fresh process with empty ``DSNN_CACHE_DIR`` and ``NUMBA_CACHE_DIR`` and no C++
   compiler on ``PATH`` (a directory of links to everything in the original ``PATH`` except
   ``gcc``/``g++``/``cc``/``c++``/``clang``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from dendritic_snn.data.patterns import make_patterns  # noqa: E402
from dendritic_snn.dendritic.batch import run_batched  # noqa: E402
from dendritic_snn.dendritic.engine import NumbaSimulator  # noqa: E402
from dendritic_snn.dendritic.experiment import Experiment  # noqa: E402
from dendritic_snn.dendritic.simulator import get_standalone  # noqa: E402
from dendritic_snn.hardware.profiles import load_profile  # noqa: E402
from dendritic_snn.learners.dendritic import structure_for  # noqa: E402
from dendritic_snn.runners.api import run_task  # noqa: E402
from dendritic_snn.runners.spec import load_task_spec  # noqa: E402
from dendritic_snn.seeding import seeded_rng  # noqa: E402

COMPILERS = ("gcc", "g++", "cc", "c++", "clang", "clang++")
OUT = Path(__file__).parent / "results" / "dendritic_engine_speed.md"


def _experiments(sims, seeds, cfg, profile, st):
    return [Experiment(sim, st, profile, s, cfg, seeded_rng(s, "bench")) for sim, s in
            zip(sims, seeds, strict=True)]  # fmt: skip


def presentation_rates(n_brian2: int, n_engine: int, seeds: list[int], rounds: int = 5):
    """Presentations/s of the three paths, interleaved in ``rounds`` so that all of them
    see the same machine load."""
    profile = load_profile("dynapse_se")
    cfg = dict(load_task_spec("pattern_discrimination").config)
    st = structure_for(
        cfg, int(cfg["n_channels"]), int(cfg["n_pyramidal"]), int(cfg["patterns"]), profile
    )
    pats = make_patterns(2, cfg["n_channels"], cfg["n_spikes"], cfg["duration"], seed=1)
    t0 = time.perf_counter()
    b2sim, _ = get_standalone(st, profile)
    b2_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    nsim = NumbaSimulator(st)
    compile_s = time.perf_counter() - t0
    b2_exp = _experiments([b2sim], [0], cfg, profile, st)[0]
    one = _experiments([nsim], [0], cfg, profile, st)[0]
    many = _experiments([None] * len(seeds), seeds, cfg, profile, st)
    wall = {"b2": 0.0, "one": 0.0, "many": 0.0}
    count = {"b2": 0, "one": 0, "many": 0}

    def present(exp, k):
        exp.present(pats[k % 2], k % 2, learn=True, teach_nontarget=True)

    def present_many(k):
        vals = [e.prepare(pats[k % 2], k % 2, learn=True, teach_nontarget=True) for e in many]
        outs = nsim.run_batch([v for v, _ in vals])
        for e, (_, extra), res in zip(many, vals, outs, strict=True):
            e.finish(res, extra)

    paths = (("b2", n_brian2, lambda k: present(b2_exp, k)),
             ("one", n_engine, lambda k: present(one, k)),
             ("many", n_engine, present_many))  # fmt: skip
    for _, _, fn in paths:  # one untimed presentation each: first-call loading
        fn(0)
    for r in range(rounds):
        for key, n, fn in paths:
            todo = n // rounds + (1 if r < n % rounds else 0)
            start = time.perf_counter()
            for k in range(todo):
                fn(count[key] + k)
            wall[key] += time.perf_counter() - start
            count[key] += todo
    # the step loop alone (no Python around it), in CPU time: one chip vs the batch
    vals1 = many[0].prepare(pats[0], 0, learn=False)[0]
    loop1 = _best(lambda: nsim.run_batch([vals1]), 10) * 1e3
    loopb = _best(lambda: nsim.run_batch([vals1] * len(seeds)), 10) * 1e3
    n = len(seeds)
    r_b2 = count["b2"] / wall["b2"]
    r_1 = count["one"] / wall["one"]
    r_b = count["many"] * n / wall["many"]
    return [
        f"## 1. Presentations per second, main-job network ({st.n_in} in, {st.n_p} P, "
        f"{st.n_r} I, {st.n_r} R, {st.duration * 1e3:.0f} ms, learning with the teacher)",
        "",
        f"Interleaved in {rounds} rounds (every path sees the same load), after one untimed "
        "presentation each; wall time.",
        "",
        "| path | presentations | wall (s) | presentations/s | vs Brian2 |",
        "|---|---|---|---|---|",
        f"| Brian2 cpp_standalone, one chip | {count['b2']} | {wall['b2']:.2f} | {r_b2:.1f} | "
        "1.0x |",
        f"| engine, one chip per call | {count['one']} | {wall['one']:.2f} | {r_1:.1f} | "
        f"{r_1 / r_b2:.0f}x |",
        f"| engine, {n} chips per call | {count['many'] * n} | {wall['many']:.2f} | "
        f"{r_b:.1f} | {r_b / r_b2:.0f}x |",
        "",
        f"Brian2 build (or load of the cached build) {b2_build:.1f} s; engine compile (or "
        f"cache load) {compile_s:.2f} s. Step loop alone for one 250 ms presentation (best "
        f"CPU time of 10): {loop1:.2f} ms for one chip, {loopb:.2f} ms for {n} chips in one "
        f"call ({loopb / (loop1 * n):.2f} of {n} single calls).",
        "",
    ]


def _best(fn, repeat: int) -> float:
    """Best CPU time of ``repeat`` calls (s): robust to the other processes on the machine."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def _job(seed: int, **overrides):
    with tempfile.TemporaryDirectory() as out:
        return run_task("pattern_discrimination", seed=seed, out=out, progress=False,
                        overrides=overrides)  # fmt: skip


def _separate_processes(seeds: list[int], at_a_time: int) -> float:
    """Wall time of one ``dsnn task pattern_discrimination`` process per seed."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        running: list[subprocess.Popen] = []
        for s in seeds:
            if len(running) == at_a_time:
                _wait(*running.pop(0))
            log = Path(root) / f"seed{s}.log"
            with log.open("w") as err:
                running.append((subprocess.Popen(
                    [sys.executable, "-m", "dendritic_snn.cli", "task", "pattern_discrimination",
                     "--seed", str(s), "--out", f"{root}/seed{s}"],
                    stdout=subprocess.DEVNULL, stderr=err), log))  # fmt: skip
        for proc, log in running:
            _wait(proc, log)
    return time.perf_counter() - t0


def _wait(proc: subprocess.Popen, log: Path) -> None:
    if proc.wait():
        raise SystemExit(f"dsnn task failed ({proc.returncode}): {log.read_text()[-500:]}")


def whole_job(seeds: list[int], brian2_seeds: int) -> list[str]:
    _job(seeds[0])  # warm: imports, compiled engine, matplotlib fonts
    t0 = time.perf_counter()
    single = [_job(s) for s in seeds]
    single_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    batched = run_batched(_job, seeds)
    batch_s = time.perf_counter() - t0
    same = all(a["metrics"] == b["metrics"] for a, b in zip(single, batched, strict=True))
    procs_s = _separate_processes(seeds, 1)
    cores = os.cpu_count() or 1
    parallel_s = _separate_processes(seeds, cores)
    t0 = time.perf_counter()
    b2 = [_job(s, engine="brian2") for s in seeds[:brian2_seeds]]
    b2_s = (time.perf_counter() - t0) / max(len(b2), 1)
    b2_same = all(a["metrics"]["accuracy"] == b["metrics"]["accuracy"]
                  for a, b in zip(single, b2, strict=False))  # fmt: skip
    n = len(seeds)
    acc = [r["metrics"]["accuracy"] for r in single]
    return [
        f"## 2. The whole main job (`dsnn task pattern_discrimination`), {n} seeds",
        "",
        "| how | wall (s) | per job (s) | vs batch |",
        "|---|---|---|---|",
        f"| {n} single runs, one process, one after the other | {single_s:.1f} | "
        f"{single_s / n:.2f} | {single_s / batch_s:.1f}x |",
        f"| {n} separate `dsnn task` processes | {procs_s:.1f} | {procs_s / n:.2f} | "
        f"{procs_s / batch_s:.1f}x |",
        f"| {n} separate `dsnn task` processes, {cores} at a time | {parallel_s:.1f} | "
        f"{parallel_s / n:.2f} | {parallel_s / batch_s:.1f}x |",
        f"| one `run_batched` call ({n} seeds, {min(cores, n)} worker processes) | "
        f"{batch_s:.1f} | {batch_s / n:.2f} | 1.0x |",
        f"| Brian2 path (`--set engine=brian2`, build cached), {len(b2)} seed(s) | "
        f"{b2_s * len(b2):.1f} | {b2_s:.2f} | {b2_s * n / batch_s:.0f}x (per job) |",
        "",
        f"Batched metrics identical to the single runs: {'yes' if same else 'NO'}; Brian2 "
        f"accuracies equal to the engine's on seeds {seeds[:brian2_seeds]}: "
        f"{'yes' if b2_same else 'NO'}. Accuracies: {', '.join(f'{a:.3f}' for a in acc)}.",
        "",
    ]


def _path_without_compilers(tmp: Path) -> str:
    """A PATH of symlinks to every executable on PATH except C/C++ compilers."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for d in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            if name in COMPILERS or "gcc" in name or "clang" in name or "g++" in name:
                continue
            link = bin_dir / name
            if not link.exists():
                try:
                    link.symlink_to(Path(d) / name)
                except OSError:
                    pass
    return str(bin_dir)


def _cold_run() -> tuple[float, float, float, list[str], subprocess.CompletedProcess]:
    """One cold main job: ``(wall, cpu, load, compilers found, process)``."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, PATH=_path_without_compilers(tmp))
        env.update(DSNN_CACHE_DIR=str(tmp / "dsnn"), NUMBA_CACHE_DIR=str(tmp / "numba"))
        found = [c for c in COMPILERS if shutil.which(c, path=env["PATH"])]
        cli = shutil.which("dsnn") or f"{sys.executable} -m dendritic_snn.cli"
        cmd = f"{cli} task pattern_discrimination --out {tmp / 'run'}"
        t0 = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(cmd.split(), env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, os.getloadavg()[0], found, proc


def cold_job(runs: int) -> list[str]:
    results = [_cold_run() for _ in range(runs)]
    walls = [r[0] for r in results]
    median = sorted(walls)[len(walls) // 2]  # odd runs: the median run; even: the upper one
    _, cpu, load, found, proc = results[walls.index(median)]
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith("K=")]
    return [
        "## 3. Cold main job, no C++ compiler",
        "",
        f"`dsnn task pattern_discrimination` in a fresh process, empty `DSNN_CACHE_DIR` and "
        f"`NUMBA_CACHE_DIR`, compilers on PATH: {', '.join(found) or 'none'}, {runs} runs: "
        f"**{median:.1f} s wall (median)**, each "
        f"{', '.join(f'{w:.1f}' for w in walls)} s. The median run: {cpu:.1f} s CPU (user + "
        f"sys of the process and of its helper process compiling the step loop); load average "
        f"{load:.1f} on {os.cpu_count()} cores; exit code {proc.returncode}.",
        "",
        f"Output: `{summary[0] if summary else proc.stderr.strip()[-200:]}`",
        "",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="chips per batch / jobs (10)")
    ap.add_argument("--brian2-presentations", type=int, default=20)
    ap.add_argument("--engine-presentations", type=int, default=500)
    ap.add_argument("--brian2-jobs", type=int, default=2, help="main jobs on the Brian2 path")
    ap.add_argument("--cold-runs", type=int, default=3, help="cold main jobs (0: none)")
    args = ap.parse_args()
    seeds = list(range(args.seeds))
    cmd = "python bench/dendritic_engine_speed.py " + " ".join(sys.argv[1:])
    t0 = time.perf_counter()
    lines = [f"`{cmd.strip()}`", "", "# Dendritic engine speed", "",
             f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; "
             "wall times on a shared machine: compare the ratios within this run.", ""]  # fmt: skip
    lines += presentation_rates(args.brian2_presentations, args.engine_presentations, seeds)
    print("\n".join(lines), flush=True)
    lines += whole_job(seeds, args.brian2_jobs)
    if args.cold_runs > 0:
        lines += cold_job(args.cold_runs)
    lines.append(f"(total bench wall time {time.perf_counter() - t0:.0f} s)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
