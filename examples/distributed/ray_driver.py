"""Sharded NRC measurement driven by Ray: one `deep-nrc accumulate` per partition, run where Ray
places it, then one `deep-nrc merge` of the states.

    pip install ray
    python ray_driver.py acts.safetensors --shards 32 --out /shared/nrc-states -- -t 3

The partitions are row ranges of one file (`--shard k/n`) here; with activations already split
per rank (acts/rank-*.safetensors), pass the files instead: `python ray_driver.py acts/rank-*`.
Every worker needs `deep-nrc` on its PATH (npm i -g deep-nrc) and the shared --out folder.
"""
import argparse
import os
import subprocess

import ray


@ray.remote(num_cpus=2)
def accumulate(inputs, shard, state, extra):
    """Runs one shard; returns its state path (raises with the CLI's one-line error on failure)."""
    cmd = ["deep-nrc", "accumulate", *inputs, "--state", state, "-q", *extra]
    if shard is not None:
        cmd += ["--shard", shard]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    return state


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="one file/folder to split in --shards, or one per partition")
    ap.add_argument("--shards", type=int, default=None, help="split a single input in this many parts")
    ap.add_argument("--out", default="nrc-states", help="a folder every worker can write")
    ap.add_argument("extra", nargs=argparse.REMAINDER, help="-- then deep-nrc options (-t, --preset, …)")
    a = ap.parse_args()
    extra = [x for x in a.extra if x != "--"]
    os.makedirs(a.out, exist_ok=True)
    ray.init()
    if a.shards:
        assert len(a.inputs) == 1, "--shards splits a single input"
        jobs = [
            accumulate.remote(a.inputs, f"{k}/{a.shards}", f"{a.out}/shard-{k}.nrc.safetensors", extra)
            for k in range(a.shards)
        ]
    else:
        jobs = [
            accumulate.remote([x], None, f"{a.out}/shard-{k}.nrc.safetensors", extra)
            for k, x in enumerate(a.inputs)
        ]
    states = ray.get(jobs)
    # States are a few MB per layer: merging them in the driver is cheap. For thousands of
    # shards, merge in groups on the workers (`deep-nrc merge … --state part-i`) and then the parts.
    subprocess.run(
        ["deep-nrc", "merge", *states, "--state", f"{a.out}/merged.nrc.safetensors",
         "--json", f"{a.out}/report.json"],
        check=True,
    )


if __name__ == "__main__":
    main()
