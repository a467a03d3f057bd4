"""A network trained in snnTorch, exported to NIR, fault-injected with a tracked campaign and reported.

Trains a dense snnTorch network 512 -> 64 (Leaky) -> 10 (Leaky) on the bundled spiking
digits (each (2, 16, 16) frame flattened to 512 inputs per time step; cross-entropy on the
output spike counts; Adam) and reports its test accuracy by snnTorch's own simulation;
exports it with ``snntorch.export_nir.export_to_nir`` and ``nir.write``; imports the file with
``spikefi.nir.load`` and checks with ``spikefi.nir.validate`` and the predictions that the
imported network reproduces snnTorch's spikes (an accuracy that differs is an error); runs a
campaign on the test split (dead and saturated neurons, threshold and membrane time constant
drifts, dead and perturbed synapses; parallel engine) tracked with
``experiments.track.track_campaign`` into an MLflow store in the output folder (never the
user's store), and builds the reliability report (HTML + Markdown) from that run.

The Leaky layers use ``reset_mechanism="zero"`` and per-neuron beta/threshold tensors:
snnTorch's default reset "subtract" is not expressible in NIR, and scalar-beta exports fail
snnTorch's own shape check.

    python -m experiments.examples.nir_snntorch
    python -m experiments.examples.nir_snntorch --epochs 15 --synapse-sample 200

Needs ``pip install 'spikefi[nir]' snntorch==1.0.0 --no-deps``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import torch

from ._common import ExampleRun, fmt_pct, parser

NAME = "nir_snntorch"
EXPERIMENT = "spikefi-nir-snntorch"
INSTALL = "pip install 'spikefi[nir]' snntorch==1.0.0 --no-deps"
HIDDEN, CLASSES, FEATURES = 64, 10, 512


def build_snntorch(seed: int) -> torch.nn.Sequential:
    """``Linear(512, 64) -> Leaky -> Linear(64, 10) -> Leaky`` with seeded weights and
    per-neuron beta (0.85 .. 0.95) and threshold (1.0) tensors, ``reset_mechanism="zero"``."""
    import snntorch as snn

    gen = torch.Generator().manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for n_in, n_out in ((FEATURES, HIDDEN), (HIDDEN, CLASSES)):
        lin = torch.nn.Linear(n_in, n_out)
        bound = 1.0 / n_in**0.5
        with torch.no_grad():  # torch's default init, from our generator (the global RNG is left alone)
            lin.weight.uniform_(-bound, bound, generator=gen)
            lin.bias.uniform_(-bound, bound, generator=gen)
        beta = 0.85 + 0.1 * torch.rand(n_out, generator=gen)
        layers += [lin, snn.Leaky(beta=beta, threshold=torch.ones(n_out), init_hidden=True, reset_mechanism="zero")]
    return torch.nn.Sequential(*layers)


def time_first(x: torch.Tensor) -> torch.Tensor:
    """``(N, 2, 16, 16, T)`` -> snnTorch's ``(T, N, 512)`` (flattened in C, H, W order)."""
    return x.reshape(x.shape[0], -1, x.shape[-1]).permute(2, 0, 1)


def simulate(net: torch.nn.Sequential, x: torch.Tensor, record: bool = False) -> Any:
    """snnTorch's own simulation, step by step: output spike counts ``(N, 10)``, and with
    ``record`` every Leaky layer's spikes ``(T, N, F)`` by module index (the NIR node names)."""
    for m in net:
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    xs = time_first(x)
    counts: torch.Tensor | int = 0
    spikes: dict[str, list[torch.Tensor]] = {str(i): [] for i, m in enumerate(net) if hasattr(m, "reset_mem")}
    for t in range(xs.shape[0]):
        h = xs[t]
        for i, m in enumerate(net):
            h = m(h)
            if record and str(i) in spikes:
                spikes[str(i)].append(h)
        counts = counts + h
    if record:
        return counts, {k: torch.stack(v) for k, v in spikes.items()}
    return counts


def train(net: torch.nn.Sequential, train_set: Any, epochs: int, lr: float, batch_size: int, seed: int,
          max_samples: int | None, on_epoch: Any) -> None:
    """Adam on the cross-entropy of the output spike counts (the counts are the logits)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x_all, y_all = train_set.tensors, train_set.labels
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(len(y_all), generator=gen)[:max_samples]
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(0, len(perm), batch_size):
            idx = perm[i:i + batch_size]
            counts = simulate(net, x_all[idx])
            loss = torch.nn.functional.cross_entropy(counts, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += len(idx)
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((counts.argmax(1) == y_all[idx]).sum())
        on_epoch(epoch, loss_sum / total, correct / total)


def main(argv: list[str] | None = None) -> int:
    ap = parser(NAME, __doc__)
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default 8; quick 1)")
    ap.add_argument("--max-train", type=int, default=None,
                    help="shuffled training samples per epoch (default: all 1438; quick: 200)")
    ap.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (default 0.002)")
    ap.add_argument("--batch-size", type=int, default=32, help="training batch size (default 32)")
    ap.add_argument("--max-samples", type=int, default=None,
                    help="campaign: only the first test samples (default: all 359; quick: 48)")
    ap.add_argument("--neuron-sample", type=int, default=None,
                    help="dead/saturated neurons: at most this many per layer, 0 = every neuron (default 0; quick 6)")
    ap.add_argument("--drift-sample", type=int, default=None,
                    help="hidden neurons drawn for each NeuronDrift (default 16; quick 4)")
    ap.add_argument("--synapse-sample", type=int, default=None,
                    help="synapses drawn per layer for DeadSynapse and for PerturbedSynapse(2.0) (default 32; quick 4)")
    args = ap.parse_args(argv)
    quick = args.quick
    epochs = args.epochs if args.epochs is not None else (1 if quick else 8)
    max_train = args.max_train if args.max_train is not None else (200 if quick else None)
    max_samples = args.max_samples if args.max_samples is not None else (48 if quick else None)
    neuron_sample = args.neuron_sample if args.neuron_sample is not None else (6 if quick else 0)
    drift_sample = args.drift_sample if args.drift_sample is not None else (4 if quick else 16)
    synapse_sample = args.synapse_sample if args.synapse_sample is not None else (4 if quick else 32)

    missing = []
    for module in ("snntorch", "nir"):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        print(f"error: this example needs {' and '.join(missing)}: {INSTALL}", file=sys.stderr)
        return 2

    run = ExampleRun(NAME, "snnTorch network -> NIR -> tracked fault-injection campaign -> report", args, [
        f"train a dense snnTorch net 512 -> {HIDDEN} (Leaky) -> {CLASSES} (Leaky), {epochs} epoch(s) on "
        + ("the whole train split" if max_train is None else f"{max_train} shuffled samples per epoch")
        + "; test accuracy by snnTorch's own simulation",
        "export it to NIR (snntorch.export_nir.export_to_nir, nir.write)",
        "import the file with spikefi.nir.load; check the spikes (spikefi.nir.validate) and the predictions",
        "campaign on the test split: DeadNeuron/SaturatedNeuron, NeuronDrift(v_threshold x0.5, tau_mem x0.25), "
        "DeadSynapse/PerturbedSynapse(2.0); parallel engine; tracked in an MLflow store in the output folder",
        "build the reliability report (HTML + Markdown) from the tracked run",
    ])
    with run.guard():
        import nir
        from snntorch.export_nir import export_to_nir

        from spikefi.campaign import Campaign
        from spikefi.data import load_spiking_digits
        from spikefi.errors import SpikeFIError
        from spikefi.faults import DeadNeuron, DeadSynapse, NeuronDrift, PerturbedSynapse, SaturatedNeuron
        from spikefi.nir import load as nir_load
        from spikefi.nir import validate
        from spikefi.snn.loss import predict_counts

        from .. import report as report_entry
        from ..track import track_campaign
        from ..tracking import ensure_experiment

        run.stage("data and snnTorch network")
        train_set, test_set = load_spiking_digits(seed=0)
        net = build_snntorch(args.seed)
        n_weights = sum(p.numel() for p in net.parameters() if p.requires_grad)
        print(f"snnTorch net: {net}".replace("\n", "\n  "))
        print(f"{n_weights} trainable weights; train {len(train_set)} / test {len(test_set)} samples "
              f"of {tuple(test_set.tensors.shape[1:])} (C, H, W, T)")

        run.stage(f"training in snnTorch ({epochs} epoch(s))")

        def on_epoch(epoch: int, loss: float, acc: float) -> None:
            print(f"  epoch {epoch:>2}: train loss {loss:.4f}, train accuracy {fmt_pct(acc)} "
                  f"[{run.seconds:.1f} s]", flush=True)

        train(net, train_set, epochs, args.lr, args.batch_size, args.seed, max_train, on_epoch)
        net.eval()
        with torch.no_grad():
            counts, ref_spikes = simulate(net, test_set.tensors, record=True)
        snn_pred = predict_counts(counts)
        snn_acc = float((snn_pred == test_set.labels).float().mean())
        print(f"  snnTorch test accuracy: {fmt_pct(snn_acc)} on {len(test_set)} samples (most output spikes, "
              f"ties to the lowest class)")

        run.stage("export to NIR")
        graph = export_to_nir(net, torch.zeros(FEATURES))
        nir_path = run.out / "digits_snntorch.nir"
        nir.write(nir_path, graph)
        print(f"  NIR nodes: {', '.join(f'{k} ({type(v).__name__})' for k, v in graph.nodes.items())}")
        run.saved(nir_path, "the trained network as a NIR graph (HDF5)")

        run.stage("import with spikefi.nir.load and check against snnTorch")
        imported = nir_load(nir_path)
        print(f"  imported: convention {imported.convention}, dt {imported.dt:g}, input {imported.input_shape}, "
              f"stages {', '.join(f'{k}:{type(v).__name__}' for k, v in imported.stages.items())}")
        check = validate(nir_path, ref_spikes, time_first(test_set.tensors), time_first=True)
        for line in str(check).splitlines():
            print(f"  spikes {line}")
        spike_values = sum(a.compared for a in check.layers)
        spike_diff = sum(a.differing for a in check.layers)
        with torch.no_grad():
            out = imported(test_set.tensors)
        nir_pred = predict_counts(out.sum(-1).reshape(len(test_set), -1))
        nir_acc = float((nir_pred == test_set.labels).float().mean())
        agree = float((nir_pred == snn_pred).float().mean())
        print(f"  spike agreement: {spike_values - spike_diff} of {spike_values} spike values identical "
              f"({fmt_pct(1 - spike_diff / spike_values)})")
        print(f"  prediction agreement: {fmt_pct(agree)} of {len(test_set)} test samples; imported accuracy "
              f"{fmt_pct(nir_acc)} vs snnTorch {fmt_pct(snn_acc)}")
        if nir_acc != snn_acc:
            raise SpikeFIError(f"the imported NIR network's test accuracy {fmt_pct(nir_acc)} differs from snnTorch's "
                               f"{fmt_pct(snn_acc)}: the import does not reproduce the network")

        run.stage("building the campaign")
        cmpn = Campaign(imported, test_set, batch_size=64, seed=args.seed, max_samples=max_samples)
        hidden, output = cmpn.netmap.order
        print(f"layers: {', '.join(f'{n} {i.neuron_shape}' for n, i in cmpn.netmap.layers.items())}; "
              f"{cmpn.num_samples} test samples")
        groups: list[tuple[str, str, int]] = []

        def add(model: Any, layer: str, sample: int | None, label: str) -> None:
            ids = cmpn.exhaustive(model, layers=[layer], sample=sample)
            groups.append((label, layer, len(ids)))

        for layer in (hidden, output):
            n = cmpn.netmap.layers[layer].neurons
            k = None if neuron_sample <= 0 or neuron_sample >= n else neuron_sample
            add(DeadNeuron(), layer, k, "DeadNeuron")
            add(SaturatedNeuron(), layer, k, "SaturatedNeuron")
        n_hidden = cmpn.netmap.layers[hidden].neurons
        add(NeuronDrift("v_threshold", factor=0.5), hidden, min(drift_sample, n_hidden), "NeuronDrift(v_threshold x0.5)")
        add(NeuronDrift("tau_mem", factor=0.25), hidden, min(drift_sample, n_hidden), "NeuronDrift(tau_mem x0.25)")
        for layer in (hidden, output):
            add(DeadSynapse(), layer, synapse_sample, "DeadSynapse")
            add(PerturbedSynapse(2.0), layer, synapse_sample, "PerturbedSynapse(2.0)")
        for label, layer, n in groups:
            print(f"  {label:<30} layer {layer}: {n} rounds")
        print(f"  total: {len(cmpn.rounds)} rounds x {cmpn.num_samples} samples")

        run.stage("running the campaign (parallel engine), tracked with MLflow")
        store = (run.out / "mlflow.db").resolve()
        uri = f"sqlite:///{store}"
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        if client.get_experiment_by_name(EXPERIMENT) is None:  # artifacts in the output folder, not ./mlruns
            client.create_experiment(EXPERIMENT, artifact_location=(run.out / "mlartifacts").resolve().as_uri())
        ensure_experiment(client, EXPERIMENT)
        tracked = track_campaign(cmpn, "nir-snntorch-digits", experiment=EXPERIMENT, tracking_uri=uri,
                                 engine="parallel", output_dir=run.out / "campaigns",
                                 network=f"nir:{nir_path.name} (snnTorch)", dataset="spiking_digits:test",
                                 progress=not args.no_progress)
        result, run_id = tracked["result"], tracked["run_id"]
        local = Path(tracked["local_dir"])
        print(f"MLflow run {run_id} in {uri} (experiment {EXPERIMENT}); evaluated in "
              f"{result.meta['seconds']:.1f} s")

        run.stage("critical-fault summary")
        s = result.summary()
        print(f"golden accuracy {fmt_pct(s['golden_accuracy'])} on {cmpn.num_samples} samples")
        print(f"critical fault rounds: {s['critical_faults']} of {s['rounds']} = {fmt_pct(s['critical_fault_rate'])} "
              f"(95% Wilson interval {fmt_pct(s['critical_fault_rate_low'])} .. {fmt_pct(s['critical_fault_rate_high'])})")
        print(f"accuracy under a fault: mean {fmt_pct(s['accuracy_mean'])}, min {fmt_pct(s['accuracy_min'])}")
        t = result.table
        t = t.assign(fault=[m if not pn else f"{m}({pn}={v:g})" for m, pn, v in zip(t["model"], t["param_name"],
                                                                                     t["param"], strict=True)])
        per_model = t.groupby(["fault", "layer"], sort=False).agg(
            rounds=("round_id", "size"), critical_rounds=("critical", lambda c: int((c > 0).sum())),
            mean_accuracy=("accuracy", "mean"), min_accuracy=("accuracy", "min"))
        print(per_model.to_string(float_format=lambda v: f"{v:.4f}"))

        run.stage("reliability report")
        rargs = report_entry.build_parser().parse_args(
            ["--tracking-uri", uri, "--experiment", EXPERIMENT, "--runs", run_id,
             "--output-dir", str(run.out / "report")])
        html_path, md_path, report_run = report_entry.run(rargs)
        print(f"report logged as artifacts of MLflow run {report_run}")

        run.stage("saving")
        run.saved(store, "MLflow store of the campaign and report runs (mlflow ui --backend-store-uri sqlite:///...)")
        run.saved(local / "results" / "rounds.parquet", "campaign result: one row per round (Parquet)")
        run.saved(local / "results" / "rounds.csv", "the same table as CSV")
        run.saved(local / "results" / "summary.json", "critical-fault rate, Wilson interval, accuracy statistics")
        run.saved(local / "spikes" / "per_layer.csv", "spike statistics per layer")
        for png in sorted((local / "plots").glob("*.png")):
            run.saved(png, "campaign figure")
        run.saved(html_path, "reliability report (HTML)")
        run.saved(md_path, "reliability report (Markdown)")
        run.save_text(per_model.to_csv(), "per_model.csv", "rounds, critical rounds and accuracy per fault model and layer")
    if run.failed:
        return 2
    return run.finish({
        "snnTorch accuracy": f"{fmt_pct(snn_acc)} after {epochs} epoch(s)",
        "NIR agreement": f"{fmt_pct(agree)} predictions, {spike_values - spike_diff}/{spike_values} spike values",
        "campaign": f"{s['rounds']} rounds, {s['critical_faults']} critical ({fmt_pct(s['critical_fault_rate'])}); "
                    f"MLflow run {run_id}",
        "report": str(html_path),
    })


if __name__ == "__main__":
    sys.exit(main())
