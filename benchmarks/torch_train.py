"""The default training as a PyTorch program: what `cnn-backprop train --data SOURCE` does, for make bench to time.

The same data, network (the nn.Sequential `export` writes), initial parameters,
order of batches, one-pixel shifts, momentum and step sizes, and after every
epoch the loss and accuracy of the training and the test set, as `train`
reports them for its learning curves.  Run as its own process, its wall time
counts what the command's does: the imports, loading the data, the steps and
the evaluations.

    python benchmarks/torch_train.py --data digits --dtype float32
"""

import argparse
import time

import torch

from cnn_backprop import data, export
from cnn_backprop.architecture import Architecture, default_spec
from cnn_backprop.network import init_params
from cnn_backprop.train import learning_rate, schedule, shifted


def torch_model(arch, params, dtype):
    """The same network as the module `cnn-backprop export` writes, from the same parameter values (and a batch
    norm's fresh running statistics)."""
    namespace = {}
    exec(export.source(arch), namespace)
    model = namespace["build"](None)
    state = export.state_dict(arch, {**arch.initial_buffers(), **params})
    model.load_state_dict({name: torch.from_numpy(value) for name, value in state.items()})
    return model.to(dtype)


def torch_loss(arch, labels, dtype):
    """PyTorch's loss of the network's output, and the labels as that loss takes them."""
    if arch.output.binary:
        return torch.nn.BCEWithLogitsLoss(), torch.from_numpy(labels).to(dtype).reshape(-1, 1)
    return torch.nn.CrossEntropyLoss(), torch.from_numpy(labels).long()


def torch_train(options, arch, dtype, dataset=None, evaluate=False):
    """The training run in PyTorch; returns the seconds of its steps (as `train` counts them) and the last epoch's
    test accuracy.  With ``evaluate``, both sets are evaluated after every epoch, as `train` does."""
    _, param_rng, shuffle_rng, _, shift_rng = data.random_streams(options.seed, 5)
    if dataset is None:
        dataset = data.load(options.data, options.seed, options.train_size, options.test_size)
    images, labels = dataset.train_images, dataset.train_labels
    model = torch_model(arch, init_params(arch, param_rng, options.init or None), dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=options.lr, momentum=options.momentum)
    loss_fn, y = torch_loss(arch, labels, dtype)
    sets = [(torch.from_numpy(x).to(dtype), loss_fn, torch_loss(arch, t, dtype)[1], t)
            for x, t in ((images, labels), (dataset.test_images, dataset.test_labels))]  # fmt: skip
    steps, step, seconds, accuracy = options.epochs * -(-len(images) // options.batch_size), 0, 0.0, None
    for _ in range(options.epochs):
        start = time.perf_counter()
        order = shuffle_rng.permutation(len(images))
        for first in range(0, len(images), options.batch_size):
            batch = order[first : first + options.batch_size]
            inputs = shifted(images[batch], shift_rng, options.shift) if options.shift else images[batch]
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(options, step, steps)
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(torch.from_numpy(inputs).to(dtype)), y[batch]).backward()
            optimizer.step()
            step += 1
        seconds += time.perf_counter() - start
        if evaluate:
            with torch.no_grad():
                for x, loss, target, numbers in sets:
                    z = model(x)
                    loss(z, target).item()
                    predicted = (z[:, 0] > 0).long() if arch.output.binary else z.argmax(dim=1)
                    accuracy = (predicted.numpy() == numbers).mean()
    return seconds, accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = parser.parse_args()
    options = schedule(args.data)
    dataset = data.load(options.data, options.seed, options.train_size, options.test_size)
    arch = Architecture.parse(default_spec(args.data, len(dataset.classes)), *dataset.input_shape)
    seconds, accuracy = torch_train(options, arch, getattr(torch, args.dtype), dataset, evaluate=True)
    print(
        f"PyTorch {args.dtype}: {options.epochs} epochs in {seconds:.2f} s of SGD steps; test accuracy {accuracy:.2%}"
    )


if __name__ == "__main__":
    main()
