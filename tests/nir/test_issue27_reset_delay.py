"""Issue 27, item 6: snnTorch's ``reset_delay=False`` (``Leaky``/``Synaptic``) is a setting a NIR
graph cannot carry (the exported graph is the same for both settings); ``spikefi.nir.load``
takes it as an explicit option, tested against snnTorch 1.0.0 itself. The numbers are printed
(``pytest -s``) and quoted in docs/nir.md."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .frameworks import run_snntorch, snntorch_dense, spike_input

nir = pytest.importorskip("nir", reason="spikefi[nir] extra (nir==1.0.8) not installed")
snir = pytest.importorskip("spikefi.nir")
snntorch = pytest.importorskip("snntorch", reason="snnTorch 1.0.0 (test-only) not installed")

STEPS, BATCH, SIZES = 250, 16, (20, 32, 10)
LAYERS = ("1", "3")
RESETS = {"zero": "value", "subtract": "subtract"}


def _differing(graph, reference, x, **kwargs) -> int:
    report = snir.validate(graph, {k: reference[k] for k in LAYERS}, x, time_first=True, **kwargs)
    return sum(a.differing for a in report.layers)


def _graph_arrays(graph) -> dict[str, np.ndarray]:
    return {f"{n}.{k}": np.asarray(v) for n, node in graph.nodes.items() for k, v in vars(node).items()
            if isinstance(v, (np.ndarray, torch.Tensor))}


@pytest.mark.parametrize("neuron", ["Leaky", "Synaptic"])
@pytest.mark.parametrize("mechanism", ["zero", "subtract"])
def test_reset_delay_false_is_an_explicit_load_option(neuron, mechanism):
    from snntorch.export_nir import export_to_nir

    assert snntorch.__version__ == "1.0.0"
    x = spike_input(STEPS, BATCH, SIZES[0])
    delayed = snntorch_dense(SIZES, neuron, reset=mechanism)
    undelayed = snntorch_dense(SIZES, neuron, reset=mechanism, reset_delay=False)
    graph = export_to_nir(undelayed, torch.zeros(SIZES[0]))
    # the graph is the same for both settings: the importer cannot tell them apart
    same = _graph_arrays(export_to_nir(delayed, torch.zeros(SIZES[0])))
    assert {k: v.tolist() for k, v in _graph_arrays(graph).items()} == {k: v.tolist() for k, v in same.items()}
    reference = run_snntorch(undelayed, x)
    spikes = sum(int(reference[k].sum()) for k in LAYERS)
    assert 0 < spikes < sum(reference[k].numel() for k in LAYERS)
    reset = RESETS[mechanism]
    with_option = _differing(graph, reference, x, reset=reset, reset_delay=False)
    without = _differing(graph, reference, x, reset=reset)
    print(f"\nsnnTorch {neuron}(reset_mechanism={mechanism!r}, reset_delay=False), {spikes} spikes: "
          f"{with_option} differ with reset_delay=False, {without} with the default import")
    assert with_option == 0
    # the default import matches snnTorch's default (reset_delay=True) exactly
    assert _differing(graph, run_snntorch(delayed, x), x, reset=reset) == 0
    if (neuron, mechanism) != ("Leaky", "zero"):  # Leaky with reset to zero fires the same either way
        assert without > 0


def test_reset_delay_is_refused_where_it_means_nothing():
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])), "fc": nir.Linear(weight=np.eye(2)),
                                "lif": nir.LIF(tau=np.full(2, 0.02), r=np.ones(2), v_leak=np.zeros(2),
                                               v_threshold=np.ones(2)),
                                "output": nir.Output(output_type=np.array([2]))},
                         edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(snir.NIRConventionError, match="reset_delay=False is an snnTorch setting"):
        snir.load(graph, dt=1e-3, convention="euler", reset_delay=False)
    with pytest.raises(snir.NIRParameterError, match="reset_delay must be True or False"):
        snir.load(graph, convention="snntorch", reset_delay="no")


def test_reset_delay_in_a_campaign_config(tmp_path):
    from snntorch.export_nir import export_to_nir

    from spikefi.campaign.spec import CampaignSpec, load_spec_network
    from spikefi.errors import ConfigError

    path = tmp_path / "net.nir"
    nir.write(str(path), export_to_nir(snntorch_dense(SIZES, "Synaptic", reset_delay=False), torch.zeros(SIZES[0])))
    net, _ = load_spec_network({"nir": str(path), "reset_delay": False}, None)
    assert [s.reset_delay for s in net.neuron_stages().values()] == [False, False]
    net, _ = load_spec_network({"nir": str(path)}, None)
    assert [s.reset_delay for s in net.neuron_stages().values()] == [True, True]
    base = {"name": "c", "exhaustive": [{"model": "DeadNeuron", "layers": ["3"]}]}
    with pytest.raises(ConfigError, match="network.reset_delay must be true or false, got 'no'"):
        CampaignSpec.from_dict({**base, "network": {"nir": str(path), "reset_delay": "no"}})
    with pytest.raises(ConfigError, match="reset_delay goes with network.nir"):
        CampaignSpec.from_dict({**base, "network": {"pretrained": "digits_cnn", "reset_delay": False}})
