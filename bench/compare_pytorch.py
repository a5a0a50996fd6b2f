#!/usr/bin/python3
"""xgrad against PyTorch 1.13 on the same ViT workloads, side by side.

    /usr/bin/python3 bench/compare_pytorch.py --xgrad build/release/bench/bench_workloads
    /usr/bin/python3 bench/compare_pytorch.py --workloads toy fmnist_train --threads 1 --json out.json

Each workload is one step of a Vision Transformer on random data of the right shape (see
bench/bench_workloads.cpp for the list). xgrad runs it in bench_workloads --serve, PyTorch in a
worker process running this file with --worker, on the reference model of
tests/fixtures/vit_fixtures.py (the model xgrad's ViT is tested against, same parameters).

Fair thread settings, as PyTorch users run on a small machine:
  1 thread : torch.set_num_threads(1), OPENBLAS_NUM_THREADS=1     xgrad: set_num_threads(1)
  2 threads: torch.set_num_threads(1), OPENBLAS_NUM_THREADS=2     xgrad: set_num_threads(2)
(PyTorch's own kernels on one thread, its GEMM, OpenBLAS, on two; xgrad runs everything on its own pool.)

Both workers stay alive for the whole run and are asked in turn (xgrad, PyTorch, xgrad, ...) for
a few steps at a time, so that a change in the machine's load hits both sides alike; the table
shows medians over all steps after a warm-up. The machine this was written on is shared: read
the ratio column, and compare runs only under similar load (printed with the table).

Columns: xgrad ms, PyTorch ms (median wall-clock time per step), ratio = xgrad / PyTorch (lower is
better for xgrad), xgrad GFLOP/s (the step's matrix-product flops / xgrad's time) and its % of the
FMA peak (measured by bench_workloads with a register-only FMA loop, times the thread count), and
the ratio of the CPU time per step (all threads of each process): on a loaded machine a process
also waits for a core, which wall-clock time counts and CPU time does not.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name: (ViT config, batch, train?, optimizer step?) -- the same as bench/bench_workloads.cpp.
TOY = dict(image_size=[8, 8], patch_size=4, channels=3, num_classes=10, model_dim=8, depth=6, num_heads=8,
           mlp_dim=2048, dropout=0.1, emb_dropout=0.0, patch_embedding="conv", pool="cls", norm_first=False,
           activation="relu")
FMNIST = dict(image_size=[28, 28], patch_size=4, channels=1, num_classes=10, model_dim=128, depth=6, num_heads=8,
              mlp_dim=512, dropout=0.1, emb_dropout=0.1, patch_embedding="linear", pool="cls", norm_first=True,
              activation="gelu")
TINY = dict(image_size=[32, 32], patch_size=4, channels=3, num_classes=10, model_dim=192, depth=12, num_heads=3,
            mlp_dim=768, dropout=0.0, emb_dropout=0.0, patch_embedding="conv", pool="cls", norm_first=True,
            activation="gelu")
# The main job's default model (tutorials/07_train_fashion_mnist with no flags, vit/train/train_config.h).
MAIN_DEFAULT = dict(image_size=[28, 28], patch_size=4, channels=1, num_classes=10, model_dim=64, depth=4,
                    num_heads=4, mlp_dim=128, dropout=0.0, emb_dropout=0.0, patch_embedding="linear", pool="mean",
                    norm_first=True, activation="gelu")
WORKLOADS = {
    "toy": (TOY, 1, True, False),
    "fmnist_train": (FMNIST, 128, True, True),
    "fmnist_infer_bs1": (FMNIST, 1, False, False),
    "fmnist_infer_bs256": (FMNIST, 256, False, False),
    "tiny_train": (TINY, 64, True, True),
    "main_default": (MAIN_DEFAULT, 64, True, True),
}


def matmul_flops(name):
    """Flops of the step's matrix products (2 per multiply-add): patch embedding, q/k/v and
    output projections, attention scores and weighted sums, the MLP, the head. The backward does
    two products for each forward one, so a training step counts three times the forward."""
    cfg, bs, train, _ = WORKLOADS[name]
    d, mlp, heads = cfg["model_dim"], cfg["mlp_dim"], cfg["num_heads"]
    h, w = cfg["image_size"]
    p = cfg["patch_size"]
    n = (h // p) * (w // p)
    tokens = n + 1
    rows = bs * tokens
    per_layer = 2 * rows * d * (3 * d) + 2 * rows * d * d + 2 * 2 * rows * d * mlp
    per_layer += 2 * 2 * bs * tokens * tokens * d  # q @ k^T and weights @ v over all heads
    fwd = cfg["depth"] * per_layer + 2 * bs * n * (cfg["channels"] * p * p) * d + 2 * bs * d * cfg["num_classes"]
    return 3 * fwd if train else fwd


# ---- the PyTorch worker ---------------------------------------------------------------------------


def worker():
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
    import warnings

    warnings.filterwarnings("ignore")
    from vit_fixtures import ViT

    torch.set_num_threads(1)
    built = {}

    def build(name):
        cfg, bs, train, opt = WORKLOADS[name]
        torch.manual_seed(0)
        model = ViT(**cfg)
        h, w = cfg["image_size"]
        images = torch.rand(bs, cfg["channels"], h, w)
        labels = torch.randint(cfg["num_classes"], (bs,))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3) if opt else None
        model.train(train)

        def step():
            if not train:
                with torch.no_grad():
                    return float(model(images)[0, 0])
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
            else:
                model.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            if optimizer is not None:
                optimizer.step()
            return float(loss)

        return step

    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            break
        if parts[0] == "run":
            name, iters = parts[1], int(parts[3])
            if name not in built:
                built[name] = build(name)
            seconds, cpu = [], []
            for _ in range(iters):
                start, cpu_start = time.perf_counter(), time.process_time()
                built[name]()
                seconds.append(time.perf_counter() - start)
                cpu.append(time.process_time() - cpu_start)
            print(json.dumps({"workload": name, "threads": int(parts[2]), "seconds": seconds, "cpu_seconds": cpu}),
                  flush=True)
        elif parts[0] == "info":
            print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                              "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}), flush=True)


# ---- the driver -----------------------------------------------------------------------------------


class Worker:
    def __init__(self, argv, env):
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.proc.args} exited (asked: {command})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"worker {self.proc.args}: {answer['error']}")
        return answer

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        self.proc.wait(timeout=60)


def steps_per_round(name):
    """A few steps per turn for fast workloads, one for slow ones: each turn lasts ~0.1-2 s."""
    return {"toy": 50, "fmnist_infer_bs1": 20, "fmnist_infer_bs256": 2, "fmnist_train": 1, "tiny_train": 1,
            "main_default": 5}[name]


def peak_rss_mib(argv, env, stdin_text=None):
    """Runs argv to the end in a fresh process and returns its peak resident set size (MiB)."""
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    if stdin_text is not None:
        proc.stdin.write(stdin_text)
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed with exit code {proc.returncode}")
    return usage.ru_maxrss / 1024  # Linux reports KiB


def measure_rss(xgrad, name, threads, steps=3):
    """Peak RSS of a whole process that builds the workload and runs a few steps, xgrad and PyTorch."""
    env = dict(os.environ)
    x = peak_rss_mib([xgrad, "--threads", str(threads), "--iters", str(steps), name], dict(env, OMP_NUM_THREADS=str(threads)))
    t = peak_rss_mib([sys.executable, str(Path(__file__).resolve()), "--worker"],
                     dict(env, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"),
                     f"run {name} {threads} {steps}\nquit\n")
    return x, t


def settle():
    """Let the side that just ran go quiet before the other starts. OpenBLAS's idle threads (in the
    PyTorch worker) keep spinning for a while after its last call (THREAD_TIMEOUT, ~2^28 cycles,
    tens of ms), and xgrad's pool for 50 us; a spinning thread on one of two cores would slow
    whichever side runs next with two threads."""
    time.sleep(0.3)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--xgrad", default=str(ROOT / "build" / "release" / "bench" / "bench_workloads"),
                        help="the bench_workloads executable")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=7, help="turns per side and workload (after one warm-up turn)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--xgrad-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="extra environment for the xgrad worker, e.g. OMP_WAIT_POLICY=passive (on a machine "
                             "shared with other busy processes: see docs/performance.md)")
    parser.add_argument("--rss", nargs="*", default=["fmnist_train", "main_default"], choices=list(WORKLOADS),
                        help="workloads whose peak RSS is measured, each side in a fresh process (1 thread)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()

    load_before = os.getloadavg()
    started = time.time()
    results = []
    peak = None
    for threads in args.threads:
        env = dict(os.environ)
        torch_env = dict(env, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        xgrad_env = dict(env, OMP_NUM_THREADS=str(threads))
        xgrad_env.update(item.split("=", 1) for item in args.xgrad_env)
        xg = Worker([args.xgrad, "--serve"], xgrad_env)
        pt = Worker([sys.executable, str(Path(__file__).resolve()), "--worker"], torch_env)
        try:
            if peak is None:
                peak = xg.ask("peak")["peak_gflops"]
            for name in args.workloads:
                k = steps_per_round(name)
                command = f"run {name} {threads} {k}"
                xg.ask(command)  # warm-up: build the model, fill caches and allocators
                pt.ask(command)
                xs, ts, xc, tc = [], [], [], []
                for _ in range(args.rounds):
                    settle()
                    answer = xg.ask(command)
                    xs += answer["seconds"]
                    xc += answer["cpu_seconds"]
                    settle()
                    answer = pt.ask(command)
                    ts += answer["seconds"]
                    tc += answer["cpu_seconds"]
                x_ms, t_ms = 1e3 * statistics.median(xs), 1e3 * statistics.median(ts)
                x_cpu, t_cpu = 1e3 * statistics.median(xc), 1e3 * statistics.median(tc)
                gflops = matmul_flops(name) / (x_ms * 1e-3) * 1e-9
                row = dict(workload=name, threads=threads, xgrad_ms=x_ms, pytorch_ms=t_ms, ratio=x_ms / t_ms,
                           xgrad_cpu_ms=x_cpu, pytorch_cpu_ms=t_cpu, cpu_ratio=x_cpu / t_cpu,
                           xgrad_gflops=gflops, peak_percent=100 * gflops / (peak * threads), steps=len(xs),
                           matmul_gflop_per_step=matmul_flops(name) * 1e-9)
                results.append(row)
                print(f"  {name:20s} threads={threads}  xgrad {x_ms:9.3f} ms   PyTorch {t_ms:9.3f} ms   "
                      f"ratio {x_ms / t_ms:5.3f}   (CPU time ratio {x_cpu / t_cpu:5.3f})", file=sys.stderr, flush=True)
        finally:
            xg.close()
            pt.close()
    load_after = os.getloadavg()

    print()
    print(f"FMA peak of one core (measured): {peak:.1f} GFLOP/s;  load average before {load_before[0]:.1f}, "
          f"after {load_after[0]:.1f} ({os.cpu_count()} cores);  {time.time() - started:.0f} s"
          + (f";  xgrad env: {' '.join(args.xgrad_env)}" if args.xgrad_env else ""))
    print()
    header = f"| {'workload':20s} | threads | {'xgrad ms':>10s} | {'PyTorch ms':>10s} | {'ratio':>6s} | " \
             f"{'xgrad GFLOP/s':>13s} | {'% of FMA peak':>13s} | {'CPU-time ratio':>14s} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in results:
        print(f"| {r['workload']:20s} | {r['threads']:7d} | {r['xgrad_ms']:10.3f} | {r['pytorch_ms']:10.3f} | "
              f"{r['ratio']:6.3f} | {r['xgrad_gflops']:13.1f} | {r['peak_percent']:12.1f}% | {r['cpu_ratio']:14.3f} |")
    if args.rss:
        print()
        print(f"| {'peak RSS (MiB), 1 thread':24s} | {'xgrad':>8s} | {'PyTorch':>8s} | {'ratio':>6s} |")
        print(f"|{'-' * 26}|{'-' * 10}|{'-' * 10}|{'-' * 8}|")
        for name in args.rss:
            x_mib, t_mib = measure_rss(args.xgrad, name, 1)
            print(f"| {name:24s} | {x_mib:8.0f} | {t_mib:8.0f} | {x_mib / t_mib:6.3f} |")
            results.append(dict(workload=name, threads=1, measure="peak_rss_mib", xgrad_mib=x_mib, pytorch_mib=t_mib,
                                ratio=x_mib / t_mib))
    if args.json:
        # A list of objects (workload, threads, xgrad_ms, pytorch_ms, ratio, ...); the run's
        # conditions go into every object so that each stands on its own.
        conditions = dict(peak_gflops=peak, load_average_before=load_before[0], load_average_after=load_after[0],
                          cores=os.cpu_count(), xgrad_env=" ".join(args.xgrad_env))
        with open(args.json, "w") as f:
            json.dump([dict(r, **conditions) for r in results], f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
