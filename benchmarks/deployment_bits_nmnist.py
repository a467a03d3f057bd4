"""Accuracy vs deployment format on the zoo N-MNIST CNN with real recordings (issue 34).

The zoo's ``nmnist_cnn`` on the first ``--samples`` real recordings of ``test100.txt``
(``nmnist_small``, true labels), deployed in several formats (weight codes of 8 down to 2
bits per output channel, 4 bits per layer, bits per layer, 4-bit weights with a fixed-point
SRM neuron). Each format is a campaign on the deployed network as golden (float64: the
fixed-point arithmetic is exact) with the same faults: ``--sites`` dead neurons of SF4a and
``--sites`` dead synapses of SC3, sampled with the same seed in every format. Per format: the
float golden accuracy, the deployed golden accuracy (no faults), the share of samples both
predict alike, the mean accuracy under the faults and the critical rounds, and per layer the
golden spike-count change and the share of neuron-steps whose spike differs.

Run on the CPU (a few minutes)::

    SPIKEFI_NMNIST_DIR=../shared/nmnist_small PYTHONPATH=. \\
        python benchmarks/deployment_bits_nmnist.py --samples 48 --out benchmarks/results/deployment_bits_nmnist
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

if __package__ in (None, ""):  # run as a file: the repository root makes ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spikefi.campaign import Campaign  # noqa: E402
from spikefi.data import NMNIST  # noqa: E402
from spikefi.faults import DeadNeuron, DeadSynapse  # noqa: E402
from spikefi.zoo import load_pretrained  # noqa: E402

FIXED_NEURON = {"membrane": {"int_bits": 7, "frac_bits": 4, "rounding": "floor"},
                "psp_kernel": {"int_bits": 0, "frac_bits": 6, "signed": False}}


def _md(df: pd.DataFrame, index: bool = False) -> str:
    """A Markdown table (floats with 4 decimals)."""
    if index:
        df = df.reset_index()
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in df.itertuples(index=False)]
    head = [str(c) for c in df.columns]
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in cells])


def formats() -> dict[str, dict[str, Any] | None]:
    out: dict[str, dict[str, Any] | None] = {"float": None}
    for b in (8, 4, 2, 3, 6):  # the most telling first: each format's row is written as soon as it is done
        out[f"w{b}-channel"] = {"weights": {"bits": b, "scale": "channel"}}
    out["w4-fixed-neuron"] = {"weights": {"bits": 4, "scale": "channel"}, **FIXED_NEURON}
    out["w4-layer"] = {"weights": {"bits": 4, "scale": "layer"}}
    out["w3-first-last-8"] = {"weights": {"bits": 3, "scale": "channel"},
                              "layers": {"SC1": {"bits": 8}, "SF4b": {"bits": 8}}}
    out["w8-fixed-neuron"] = {"weights": {"bits": 8, "scale": "channel"}, **FIXED_NEURON}
    return out


def write_outputs(out: Path, meta: dict[str, Any], rows: list[dict[str, Any]], layer_rows: list[dict[str, Any]]) -> None:
    """The Markdown table and the JSON record of the formats done so far."""
    table, layers = pd.DataFrame(rows), pd.DataFrame(layer_rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "formats": rows, "layers": layer_rows}, indent=1))
    cols = ["format", "weights", "float_golden", "deployed_golden", "deployment_change_pp", "prediction_agreement",
            "dead_neuron_SF4a", "dead_synapse_SC3", "mean_under_faults", "critical_rounds", "rounds"]
    spikes = layers.pivot_table(index="format", columns="layer", values="mismatched_share", sort=False)
    text = ["# Accuracy vs deployment format: zoo N-MNIST CNN, real recordings", "",
            *[f"- {k}: {v}" for k, v in meta.items()], "",
            "Golden = no faults. deployment_change_pp = deployed golden - float golden (percentage points).", "",
            _md(table[cols]), "",
            "Formats in words (membrane and psp_kernel: `float` unless given):", "",
            _md(table[["format", "layers", "membrane", "psp_kernel"]]), "",
            "Share of neuron-steps whose golden spike differs from the float network's, per layer:", "",
            _md(spikes, index=True), ""]
    out.with_suffix(".md").write_text("\n".join(text))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--sites", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", default=None, help="format labels to run (default: all)")
    ap.add_argument("--out", default="benchmarks/results/deployment_bits_nmnist")
    args = ap.parse_args(argv)
    root = os.environ.get("SPIKEFI_NMNIST_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "nmnist_small"))
    if not Path(root).is_dir():
        print(f"error: N-MNIST recordings not found at {root} (set SPIKEFI_NMNIST_DIR)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    ds = NMNIST(root, "test", sample_list="test100.txt")
    n = min(args.samples, len(ds))
    x = torch.stack([ds[i][0] for i in range(n)])
    y = torch.tensor(ds.targets[:n])
    net, _, _ = load_pretrained("nmnist_cnn")
    rows: list[dict[str, Any]] = []
    layer_rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False).stdout.strip()
    except OSError:
        commit = ""
    meta = {"network": "zoo nmnist_cnn", "data": f"nmnist_small test100.txt, first {n} recordings, true labels",
            "samples": n, "faults": f"{args.sites} dead neurons of SF4a + {args.sites} dead synapses of SC3 "
                                     f"(sampled, seed {args.seed}, the same sites in every format)",
            "engine": "sequential", "dtype": "float64", "device": "cpu (1 torch thread)",
            "machine": platform.platform(), "commit": commit, "wall_seconds": 0.0}
    out = Path(args.out)
    for label, fmt in formats().items():
        if args.only and label not in args.only:
            continue
        t0 = time.perf_counter()
        cmpn = Campaign(net, (x, y), batch_size=16, seed=args.seed, dtype=torch.float64, quantization=fmt)
        cmpn.exhaustive(DeadNeuron(), layers=["SF4a"], sample=args.sites)
        cmpn.exhaustive(DeadSynapse(), layers=["SC3"], sample=args.sites)
        res = cmpn.run(engine="sequential", progress=False)
        gap = cmpn.deployment_gap()
        t = res.table
        per_model = t.groupby("model")["accuracy"].mean()
        words = cmpn.deployment.describe() if cmpn.deployment is not None else {}
        rows.append({
            "format": label, "weights": words.get("weights", "float"), "layers": words.get("layers", "none"),
            "membrane": words.get("membrane", "float"), "psp_kernel": words.get("psp_kernel", "float"),
            "float_golden": gap["float_accuracy"], "deployed_golden": gap["deployed_accuracy"],
            "deployment_change_pp": 100 * gap["accuracy_change"], "prediction_agreement": gap["prediction_agreement"],
            "dead_neuron_SF4a": float(per_model.get("DeadNeuron", float("nan"))),
            "dead_synapse_SC3": float(per_model.get("DeadSynapse", float("nan"))),
            "mean_under_faults": float(t["accuracy"].mean()), "critical_rounds": int((t["critical"] > 0).sum()),
            "rounds": len(t), "seconds": round(time.perf_counter() - t0, 1)})
        for layer, v in gap["layers"].items():
            layer_rows.append({"format": label, "layer": layer, **v})
        r = rows[-1]
        print(f"{label:>16}: float {r['float_golden']:.4f} deployed {r['deployed_golden']:.4f} "
              f"agree {r['prediction_agreement']:.3f} under faults {r['mean_under_faults']:.4f} "
              f"critical {r['critical_rounds']}/{r['rounds']} ({r['seconds']} s)", flush=True)
        meta["wall_seconds"] = round(time.perf_counter() - t_all, 1)
        write_outputs(out, meta, rows, layer_rows)
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')} ({meta['wall_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
