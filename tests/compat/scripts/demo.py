"""Demo environment of the SpikeFI-style scripts (the role of SpikeFI's ``examples/demo``).

Case studies (environment variable ``SFI_CASESTUDY``):

* ``digits`` — spikefi's pretrained ``digits_cnn`` and the bundled spiking digits;
* ``nmnist`` — SpikeFI's N-MNIST CNN (weights from ``SPIKEFI_REFERENCE_DIR``, default
  ``../shared/slayer_reference``) and real recordings (``SPIKEFI_NMNIST_DIR``, default
  ``../shared/nmnist_small``), read with ``snn.io.read2Dspikes`` and binned at Ts = 6 ms.

``SFI_SAMPLES`` caps the samples of each split (default 48 digits / 32 recordings).
"""

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

import spikefi.snn as snn
from spikefi.data import load_spiking_digits
from spikefi.zoo import build, load_pretrained

REPO = Path(__file__).resolve().parents[3]
case_study = None
net_params = None
shape_in = None
out_layer = None
hidden_layer = None
device = torch.device("cpu")


def prepare(casestudy=None):
    global case_study, net_params, shape_in, out_layer, hidden_layer
    case_study = casestudy or os.environ.get("SFI_CASESTUDY", "digits")
    if case_study == "digits":
        _, net_params, _ = load_pretrained("digits_cnn")
        shape_in, out_layer, hidden_layer = (2, 16, 16), "SF4", "SF3"
    elif case_study == "nmnist":
        _, net_params = build("nmnist_cnn")
        shape_in, out_layer, hidden_layer = (2, 34, 34), "SF4b", "SF4a"
    else:
        raise ValueError(f"unknown case study {case_study!r}")


def samples():
    return int(os.environ.get("SFI_SAMPLES", "48" if case_study == "digits" else "32"))


def Network(seed=0):  # noqa: N802 - SpikeFI's demo name
    """A fresh, untrained network of the case study."""
    return build("digits_cnn" if case_study == "digits" else "nmnist_cnn", seed=seed)[0].to(device)


def get_net():
    """The trained network of the case study."""
    if case_study == "digits":
        return load_pretrained("digits_cnn")[0].to(device)
    ref = Path(os.environ.get("SPIKEFI_REFERENCE_DIR") or REPO.parent / "shared" / "slayer_reference")
    net = Network()
    net.load_state_dict(torch.load(ref / "nmnist_cnn_net.pt", map_location="cpu", weights_only=True))
    return net.to(device).eval()


class NmnistSamples(Dataset):
    """``(input, target, label)`` of the first recordings of a sample list."""

    def __init__(self, root, sample_file, count):
        self.root = Path(root)
        self.samples = np.loadtxt(self.root / sample_file).astype(int)[:count]
        self.ts = net_params["simulation"]["Ts"]
        self.steps = int(net_params["simulation"]["tSample"] / self.ts)

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        sample_id, label = (int(v) for v in self.samples[i])
        spikes = snn.io.read2Dspikes(self.root / f"{sample_id}.bs2").toSpikeTensor(
            torch.zeros((2, 34, 34, self.steps)), samplingTime=self.ts)
        target = torch.zeros((10, 1, 1, 1))
        target[label] = 1
        return spikes, target, label


def get_dataset(train=False):
    if case_study == "digits":
        split = load_spiking_digits()[0 if train else 1]
        n = samples() * (2 if train else 1)
        x, y = split.tensors[:n], split.labels[:n]
        return TensorDataset(x, torch.eye(10)[y].reshape(-1, 10, 1, 1, 1), y)
    root = os.environ.get("SPIKEFI_NMNIST_DIR") or REPO.parent / "shared" / "nmnist_small"
    return NmnistSamples(root, "train1K.txt" if train else "test100.txt", samples())


def get_loader(train=False, batch_size=16):
    return DataLoader(get_dataset(train), batch_size=batch_size, shuffle=False)


def get_fnetname():
    return f"{case_study}_cnn_net.pt"
