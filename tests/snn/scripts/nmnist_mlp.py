# ruff: noqa: N801, N803, N806, N816, UP008 - written in slayerPytorch's naming style on purpose
"""A slayerPytorch-style N-MNIST MLP training script, written the way slayerPytorch's own
examples are. Ported to spikefi by changing only the import line (``import slayerSNN as snn``
-> ``import spikefi.snn as snn``) and the device (``cuda`` -> ``cpu``).

Environment: NMNIST_PATH (folder of <id>.bs2 and train1K.txt / test100.txt), NUM_SAMPLES,
EPOCHS.
"""

import os
from datetime import datetime

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import spikefi.snn as snn  # was: import slayerSNN as snn

netParams = snn.params(os.path.join(os.path.dirname(os.path.abspath(__file__)), "network.yaml"))
datasetPath = os.environ.get("NMNIST_PATH", "NMNISTsmall") + "/"
numSamples = int(os.environ.get("NUM_SAMPLES", "32"))
epochs = int(os.environ.get("EPOCHS", "3"))


class nmnistDataset(Dataset):
    def __init__(self, datasetPath, sampleFile, samplingTime, sampleLength, numSamples=None):
        self.path = datasetPath
        self.samples = np.loadtxt(sampleFile).astype("int")[:numSamples]
        self.samplingTime = samplingTime
        self.nTimeBins = int(sampleLength / samplingTime)

    def __getitem__(self, index):
        inputIndex = self.samples[index, 0]
        classLabel = self.samples[index, 1]
        inputSpikes = snn.io.read2Dspikes(self.path + str(inputIndex.item()) + ".bs2").toSpikeTensor(
            torch.zeros((2, 34, 34, self.nTimeBins)), samplingTime=self.samplingTime
        )
        desiredClass = torch.zeros((10, 1, 1, 1))
        desiredClass[classLabel, ...] = 1
        return inputSpikes.reshape((-1, 1, 1, inputSpikes.shape[-1])), desiredClass, classLabel

    def __len__(self):
        return self.samples.shape[0]


class Network(torch.nn.Module):
    def __init__(self, netParams):
        super(Network, self).__init__()
        slayer = snn.layer(netParams["neuron"], netParams["simulation"])
        self.slayer = slayer
        self.fc1 = slayer.dense((34 * 34 * 2), 512)
        self.fc2 = slayer.dense(512, 10)

    def forward(self, spikeInput):
        spikeLayer1 = self.slayer.spike(self.slayer.psp(self.fc1(spikeInput)))
        spikeLayer2 = self.slayer.spike(self.slayer.psp(self.fc2(spikeLayer1)))
        return spikeLayer2


device = torch.device("cpu")  # was: torch.device('cuda')
torch.manual_seed(0)
net = Network(netParams).to(device)
error = snn.loss(netParams).to(device)
optimizer = snn.utils.optim.Nadam(net.parameters(), lr=0.01)

trainingSet = nmnistDataset(datasetPath=datasetPath, sampleFile=datasetPath + "train1K.txt",
                            samplingTime=netParams["simulation"]["Ts"],
                            sampleLength=netParams["simulation"]["tSample"], numSamples=numSamples)
trainLoader = DataLoader(dataset=trainingSet, batch_size=8, shuffle=False, num_workers=0)
testingSet = nmnistDataset(datasetPath=datasetPath, sampleFile=datasetPath + "test100.txt",
                           samplingTime=netParams["simulation"]["Ts"],
                           sampleLength=netParams["simulation"]["tSample"], numSamples=numSamples // 2)
testLoader = DataLoader(dataset=testingSet, batch_size=8, shuffle=False, num_workers=0)

stats = snn.utils.stats()

for epoch in range(epochs):
    tSt = datetime.now()

    for i, (input, target, label) in enumerate(trainLoader, 0):
        input = input.to(device)
        target = target.to(device)
        output = net.forward(input)
        stats.training.correctSamples += torch.sum(snn.predict.getClass(output) == label).data.item()
        stats.training.numSamples += len(label)
        loss = error.numSpikes(output, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        stats.training.lossSum += loss.cpu().data.item()
        stats.print(epoch, i, (datetime.now() - tSt).total_seconds())

    for i, (input, target, label) in enumerate(testLoader, 0):
        input = input.to(device)
        target = target.to(device)
        with torch.no_grad():
            output = net.forward(input)
        stats.testing.correctSamples += torch.sum(snn.predict.getClass(output) == label).data.item()
        stats.testing.numSamples += len(label)
        loss = error.numSpikes(output, target)
        stats.testing.lossSum += loss.cpu().data.item()
        stats.print(epoch, i)

    stats.update()
