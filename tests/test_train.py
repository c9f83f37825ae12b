"""Training: reaches the promised accuracy, is reproducible bit for bit, and stops clearly when it breaks."""

from dataclasses import replace

import numpy as np
import pytest
from conftest import seed_family

from cnn_backprop import data
from cnn_backprop.architecture import Architecture
from cnn_backprop.train import TrainingDiverged, TrainOptions, confusion_matrix, evaluate, schedule, train
from cnn_backprop.validate import InputError

SEED = Architecture.parse()


def test_defaults_reach_99_percent_on_2000_test_images():
    options = TrainOptions()
    assert options.test_size >= 2000
    result = train(SEED, options)
    assert result["test_accuracy"] >= 0.99
    assert result["train_accuracy"] >= 0.99
    assert len(result["history"]) == options.epochs


def test_a_short_run_with_pool_stride_two_and_more_filters_learns():
    arch = seed_family(filters=4, pool_stride=2)
    result = train(arch, TrainOptions(train_size=2000, epochs=10, seed=1))
    assert result["test_accuracy"] >= 0.97


def test_same_options_same_model_bit_for_bit():
    options = TrainOptions(train_size=500, test_size=100, epochs=3, seed=7)
    first = train(SEED, options)["network"].params
    second = train(SEED, options)["network"].params
    for name in first:
        assert first[name].tobytes() == second[name].tobytes()
    other = train(SEED, replace(options, seed=8))["network"].params
    assert not np.array_equal(first["conv_kernel"], other["conv_kernel"])


def test_history_is_what_evaluate_reports():
    options = TrainOptions(train_size=300, test_size=200, epochs=2, seed=2)
    result = train(SEED, options)
    dataset = data.load("shapes", options.seed, options.train_size, options.test_size)
    metrics = evaluate(result["network"], dataset.test_images, dataset.test_labels)
    assert result["history"][-1]["test_accuracy"] == metrics["accuracy"] == result["test_accuracy"]
    assert result["history"][-1]["test_loss"] == metrics["loss"]


def test_evaluate_loss_is_exact_for_confident_mistakes():
    # A network so wrong that sigmoid rounds to exactly 0 or 1 must still report the true loss,
    # z itself, not a clipped log.
    result = train(SEED, TrainOptions(train_size=200, test_size=50, epochs=1))
    network = result["network"]
    network.params["fc_bias"][:] = 5000.0
    images, labels, _, _ = data.evaluation_set("shapes", 0, 50)
    logits = network.logits(images)[:, 0]
    expected = np.mean(np.where(labels == 1, 0.0, logits))
    assert evaluate(network, images, labels)["loss"] == pytest.approx(expected, rel=1e-12)


def test_dead_relu_stops_training_with_the_reason():
    with pytest.raises(TrainingDiverged, match=r"training stopped in epoch 1: a ReLU died .* learning rate 1e\+06"):
        train(SEED, TrainOptions(train_size=256, test_size=64, epochs=5, lr=1e6))


def test_overflow_stops_training_with_the_epoch(monkeypatch):
    from cnn_backprop import train as train_module

    real_step = train_module.sgd_step
    steps = []

    def step_that_overflows_in_epoch_two(network, images, labels, *options):
        steps.append(1)
        if len(steps) > 8:  # 256 images at batch 32: 8 steps an epoch
            network.params["fc_weights"] *= 1e308
        return real_step(network, images, labels, *options)

    monkeypatch.setattr(train_module, "sgd_step", step_that_overflows_in_epoch_two)
    with pytest.raises(
        TrainingDiverged,
        match=r"^training diverged in epoch 2 \(overflow encountered in .*\): "
        r"the learning rate 0.3 is probably too large",
    ):
        train(SEED, TrainOptions(train_size=256, test_size=64, epochs=5))


def test_confusion_matrix_by_hand():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 0, 1, 1])
    assert confusion_matrix(labels, predicted, 3).tolist() == [[1, 1, 0], [1, 2, 0], [0, 1, 0]]


def test_fresh_test_set_is_not_the_training_set():
    train_images = data.load("shapes", seed=3, train_size=100).train_images
    fresh = data.evaluation_set("shapes", 3, 100)[0]
    assert not any(np.array_equal(a, b) for a in train_images[:20] for b in fresh[:20])


def test_a_softmax_network_learns_the_shapes_and_evaluates_per_class():
    arch = Architecture.parse("conv 2x3x3, relu, avgpool 2 stride 1, dense 2, softmax")
    result = train(arch, TrainOptions(train_size=1000, test_size=400, epochs=5, lr=0.3, seed=1))
    assert result["test_accuracy"] >= 0.97
    images, labels, _, _ = data.evaluation_set("shapes", 1, 200)
    metrics = evaluate(result["network"], images, labels)
    assert metrics["probabilities"].shape == (200, 2) and (metrics["predicted"] == labels).mean() == metrics["accuracy"]


def test_a_network_without_relu_never_counts_as_dead():
    result = train(Architecture.parse("avgpool 2, dense 1, sigmoid"), TrainOptions(train_size=200, epochs=2))
    assert result["relu_alive"] == 1.0


def test_momentum_steps_are_pytorchs():
    torch = pytest.importorskip("torch")
    from conftest import torch_module

    from cnn_backprop.network import Network, init_params
    from cnn_backprop.train import sgd_step

    arch = Architecture.parse("conv 2x3x3 pad 1, relu, maxpool 2, dense 2, softmax")
    params = init_params(arch, np.random.default_rng(0))
    model, _ = torch_module(arch, params)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    network, velocity = Network(arch, params), {}
    dataset = data.load("shapes", 0, 96, 1)
    for first in range(0, 96, 32):
        images, labels = dataset.train_images[first : first + 32], dataset.train_labels[first : first + 32]
        sgd_step(network, images, labels, 0.1, 0.9, velocity)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.from_numpy(images)), torch.from_numpy(labels)).backward()
        optimizer.step()
    from cnn_backprop.export import state_dict

    for name, value in state_dict(arch, network.params).items():
        np.testing.assert_allclose(value, model.state_dict()[name].numpy(), rtol=0, atol=1e-12, err_msg=name)


def test_shifted_images_move_by_at_most_the_shift_with_zeros_moved_in():
    from cnn_backprop.train import shifted

    image = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    seen = set()
    rng = np.random.default_rng(0)
    for _ in range(200):
        moved = shifted(image, rng, 1)[0, 0]
        matches = []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                expected = np.zeros((3, 3))
                expected[max(dy, 0) : 3 + min(dy, 0), max(dx, 0) : 3 + min(dx, 0)] = image[
                    0, 0, max(-dy, 0) : 3 + min(-dy, 0), max(-dx, 0) : 3 + min(-dx, 0)
                ]
                if np.array_equal(moved, expected):
                    matches.append((dy, dx))
        assert len(matches) == 1, moved
        seen.add(matches[0])
    assert seen == {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}  # all nine moves, and nothing else
    batch = np.random.default_rng(1).uniform(size=(5, 2, 4, 4))
    assert shifted(batch, np.random.default_rng(2), 2).shape == (5, 2, 4, 4)


def test_cosine_decay_falls_from_lr_to_zero_along_half_a_cosine():
    from cnn_backprop.train import learning_rate

    cosine = TrainOptions(lr=0.4, lr_decay="cosine")
    assert [learning_rate(cosine, step, 4) for step in range(4)] == pytest.approx(
        [0.4, 0.2 + 0.2 * 0.5**0.5, 0.2, 0.2 - 0.2 * 0.5**0.5]
    )
    assert learning_rate(TrainOptions(lr=0.4), 3, 4) == 0.4


def test_digits_defaults_reach_98_percent():
    # The sweep in docs/any-cnn.md holds for seeds 0-19; the suite trains one (about 15 s).
    from cnn_backprop.architecture import default_spec
    from cnn_backprop.train import schedule

    dataset = data.load("digits", seed=0)
    arch = Architecture.parse(default_spec("digits", 10), *dataset.input_shape)
    assert train(arch, schedule("digits"), dataset)["test_accuracy"] >= 0.98


def test_float32_training_reaches_the_same_bar():
    result = train(SEED, TrainOptions(dtype="float32"))
    assert result["network"].params["conv_kernel"].dtype == np.float32
    assert result["test_accuracy"] >= 0.99


def small_digits_network():
    from cnn_backprop.network import Network, init_params

    arch = Architecture.parse("conv 3x3x3 pad 1, relu, maxpool 2, dense 10, softmax", 1, 8)
    dataset = data.load("digits", 0)
    network = Network(arch, init_params(arch, np.random.default_rng(0)), image_grad=False)
    return network, dataset.train_images[:150], dataset.train_labels[:150]


def test_a_batch_in_chunks_has_the_gradient_of_one_pass():
    from cnn_backprop.train import batch_gradients

    network, images, labels = small_digits_network()
    whole_loss, whole = batch_gradients(network, images, labels, chunk=150)
    # At most 64 images a pass: 3 passes, rounded up to a multiple of the cores, of one size (38 on 2 cores).
    chunked_loss, chunked = batch_gradients(network, images, labels, chunk=64)
    assert chunked_loss == pytest.approx(whole_loss, rel=1e-12)
    assert whole_loss == pytest.approx(network.loss(images, labels), rel=0)
    for name, grad in whole.items():
        assert np.abs(grad).max() > 1e-4, name  # a real gradient, so agreeing means something
        np.testing.assert_allclose(chunked[name], grad, rtol=1e-10, atol=1e-15, err_msg=name)


def test_passes_on_threads_take_the_parts_in_order_and_see_each_update():
    from cnn_backprop.train import one_pass, passes, sgd_step

    network, images, labels = small_digits_network()
    parts = [slice(first, first + 30) for first in range(0, 150, 30)]
    for _ in range(2):  # the second time, the twins must compute with the parameters the first step changed
        threaded = passes(network, images, labels, parts)
        assert len(threaded) == len(parts)
        for part, (loss, grads) in zip(parts, threaded):
            expected_loss, expected = one_pass(network, images[part], labels[part])
            assert loss == expected_loss
            for name, grad in expected.items():
                np.testing.assert_array_equal(grads[name], grad, err_msg=name)
        sgd_step(network, images, labels, 0.5, chunk=40)


def test_passes_on_threads_raise_under_the_callers_errstate():
    from cnn_backprop.train import batch_gradients

    network, images, labels = small_digits_network()
    network.params["fc_weights"] *= 1e308
    with np.errstate(over="raise"), pytest.raises(FloatingPointError, match="overflow"):
        batch_gradients(network, images, labels, chunk=20)


def test_pass_parts_by_hand(monkeypatch):
    from cnn_backprop import train as train_module

    def sizes(batch, chunk):
        return [len(range(batch)[part]) for part in train_module.pass_parts(batch, chunk)]

    monkeypatch.setattr(train_module, "CORES", 2)
    assert sizes(32, 145) == [32]  # fits: one pass, on the caller's thread
    assert sizes(150, 64) == [38, 38, 38, 36]  # 3 needed, rounded up to 4 for 2 cores, of one size
    assert sizes(256, 145) == [128, 128]
    monkeypatch.setattr(train_module, "CORES", 3)
    assert sizes(150, 64) == [50, 50, 50]


def test_a_batch_that_fits_one_pass_runs_as_one_and_a_larger_one_is_shared_among_the_cores(monkeypatch):
    from cnn_backprop import train as train_module

    def sizes(batch, most):
        return [len(range(batch)[part]) for part in train_module.pass_parts(batch, most)]

    monkeypatch.setattr(train_module, "CORES", 2)
    assert sizes(32, 145) == [32]  # the digits batch: one pass on the caller's thread
    assert sizes(145, 145) == [145]
    assert sizes(146, 145) == [73, 73]  # two passes, one per core
    assert sizes(256, 145) == [128, 128]
    assert sizes(300, 145) == [75, 75, 75, 75]  # three needed, rounded up to a multiple of the cores


def test_evaluation_on_the_cores_gives_one_pass_numbers():
    network, images, labels = small_digits_network()
    metrics = evaluate(network, images, labels)  # 150 images in passes of at most images_per_pass, side by side
    probabilities = network.predict_proba(images)
    np.testing.assert_allclose(metrics["probabilities"], probabilities, rtol=1e-12)
    assert metrics["accuracy"] == np.mean(probabilities.argmax(axis=1) == labels)
    assert network.training  # and left as it was


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("lr_decay", "linear", "lr_decay must be one of none, cosine, got 'linear'"),
        ("init", "zeros", "init must be one of seed, pytorch (or empty for the default), got 'zeros'"),
        ("lr", -0.1, "lr must be a positive number, got -0.1"),
        ("lr", float("nan"), "lr must be a positive number, got nan"),
        ("batch_size", 0, "batch_size must be >= 1, got 0"),
        ("momentum", 1.0, "momentum must be at least 0 and below 1, got 1.0"),
        ("epochs", 2.5, "epochs must be >= 1, got 2.5"),
        ("dtype", "float16", "dtype must be one of float64, float32, got 'float16'"),
    ],
)
def test_train_options_refuse_what_they_cannot_run(field, value, message):
    with pytest.raises(InputError) as error:
        TrainOptions(**{field: value})
    assert str(error.value) == message


def test_a_run_reports_the_sizes_and_initialisation_it_used():
    dataset = data.load("digits", seed=0)
    arch = Architecture.parse("conv 2x3x3, relu, maxpool 2, dense 10, softmax", 1, 8)
    used = train(arch, replace(schedule("digits"), epochs=1), dataset)["options"]
    assert (used.train_size, used.test_size, used.init) == (1438, 359, "pytorch")
    assert used.epochs == 1 and used.lr == schedule("digits").lr
