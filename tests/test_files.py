"""Model and data files: round trips, PyTorch equivalence, every input format, and bad files refused."""

import json
import os

import numpy as np
import pytest
from conftest import seed_family, torch_module

from cnn_backprop import data, files
from cnn_backprop.architecture import Architecture
from cnn_backprop.data import CLASSES
from cnn_backprop.network import Network
from cnn_backprop.train import TrainOptions, train
from cnn_backprop.validate import InputError


def fresh_test_set(count, seed):
    images, labels, _, _ = data.evaluation_set("shapes", seed, count)
    return images, labels


@pytest.fixture(scope="module")
def trained():
    arch = seed_family(filters=2, padding=1)
    return arch, train(arch, TrainOptions(train_size=400, test_size=100, epochs=3))["network"]


def test_save_load_round_trip_gives_identical_predictions(tmp_path, trained):
    arch, network = trained
    path = files.save_model(tmp_path / "model.npz", files.Model(arch, network.params, CLASSES))
    model = files.load_model(path)
    loaded_arch, params = model.arch, model.params
    assert loaded_arch == arch and model.classes == CLASSES and model.data == "shapes" and model.seed == 0
    images, _ = fresh_test_set(50, 1)
    assert network.predict_proba(images).tobytes() == Network(loaded_arch, params).predict_proba(images).tobytes()


def test_model_file_is_plain_arrays_under_pytorch_names(tmp_path, trained):
    arch, network = trained
    path = files.save_model(tmp_path / "model.npz", files.Model(arch, network.params, CLASSES))
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["config", "conv.bias", "conv.weight", "fc.bias", "fc.weight"]
        assert archive["conv.weight"].shape == (2, 1, 3, 3) and archive["fc.weight"].shape == (1, 2 * 4 * 4)
        config = json.loads(str(archive["config"]))
    assert config == {"format": files.MODEL_FORMAT, "version": 2, "net": str(arch), "channels": 1, "image_size": 5,
                      "classes": ["cross", "rectangle"], "data": "shapes", "seed": 0}  # fmt: skip


def test_saved_model_equals_the_pytorch_model_built_from_its_arrays(tmp_path, trained):
    torch = pytest.importorskip("torch")
    arch, network = trained
    path = files.save_model(tmp_path / "model.npz", files.Model(arch, network.params, CLASSES))
    model, _ = torch_module(arch)
    with np.load(path) as archive:
        model.load_state_dict({k: torch.from_numpy(archive[k]) for k in archive.files if k != "config"})
    images, _ = fresh_test_set(200, 2)
    with torch.no_grad():
        theirs = torch.sigmoid(model(torch.from_numpy(images)))[:, 0].numpy()
    model = files.load_model(path)
    ours = Network(model.arch, model.params).predict_proba(images)[:, 1]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_a_version_1_model_file_still_loads(tmp_path):
    # The seed network's sizes as fields, as cnn-backprop 0.1 wrote them.
    config = {"format": files.MODEL_FORMAT, "version": 1, "image_size": 5, "channels": 1, "filters": 2,
              "kernel_size": 3, "conv_stride": 1, "conv_padding": 1, "pool_size": 2, "pool_stride": 1}  # fmt: skip
    rng = np.random.default_rng(0)
    arrays = {"conv.weight": rng.normal(size=(2, 1, 3, 3)), "conv.bias": rng.normal(size=2),
              "fc.weight": rng.normal(size=(1, 32)), "fc.bias": rng.normal(size=1)}  # fmt: skip
    np.savez(tmp_path / "old.npz", config=np.array(json.dumps(config)), **arrays)
    model = files.load_model(tmp_path / "old.npz")
    assert str(model.arch) == "conv 2x3x3 pad 1, relu, maxpool 2 stride 1, dense 1, sigmoid"
    assert model.classes == CLASSES and model.data == "shapes"
    np.testing.assert_array_equal(model.params["fc_weights"], arrays["fc.weight"])


def test_dataset_round_trip(tmp_path):
    images, labels = fresh_test_set(20, 4)
    files.save_dataset(tmp_path / "d.npz", images, labels, CLASSES)
    loaded_images, loaded_labels, classes, test = files.load_labelled(tmp_path / "d.npz")
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)
    assert classes == CLASSES and test is None
    np.savez(tmp_path / "squeezed.npz", images=images[:, 0], labels=labels.astype(np.float32))
    np.testing.assert_array_equal(files.load_labelled(tmp_path / "squeezed.npz")[0], images)


def test_mnist_layout_keeps_its_own_split_and_scales_bytes(tmp_path):
    rng = np.random.default_rng(1)
    x_train, x_test = rng.integers(0, 256, (30, 6, 6), dtype=np.uint8), rng.integers(0, 256, (10, 6, 6), dtype=np.uint8)
    y_train, y_test = rng.integers(0, 10, 30), rng.integers(0, 10, 10)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    dataset = data.load(str(tmp_path / "mnist.npz"), seed=5)
    np.testing.assert_array_equal(dataset.train_images, x_train[:, None] / 255.0)
    np.testing.assert_array_equal(dataset.test_labels, y_test)
    assert dataset.classes == tuple(str(k) for k in range(max(y_train.max(), y_test.max()) + 1))
    assert dataset.split == "the file's own test set"


def test_a_plain_npz_is_split_by_class_with_the_seed(tmp_path):
    labels = np.repeat([0, 1, 2], [8, 12, 20])
    np.savez(tmp_path / "d.npz", images=np.arange(40.0)[:, None, None] * np.ones((40, 3, 3)), labels=labels,
             classes=np.array(["a", "b", "c"]))  # fmt: skip
    dataset = data.load(str(tmp_path / "d.npz"), seed=3)
    assert dataset.classes == ("a", "b", "c")
    assert np.bincount(dataset.test_labels).tolist() == [2, 2, 4]  # a fifth of each class, rounded
    everything = np.sort(np.concatenate([dataset.train_images[:, 0, 0, 0], dataset.test_images[:, 0, 0, 0]]))
    np.testing.assert_array_equal(everything, np.arange(40.0))
    again = data.load(str(tmp_path / "d.npz"), seed=3)
    np.testing.assert_array_equal(again.test_images, dataset.test_images)
    assert not np.array_equal(data.load(str(tmp_path / "d.npz"), seed=4).test_images, dataset.test_images)


def test_image_folder_layout(tmp_path):
    from matplotlib.image import imsave

    rng = np.random.default_rng(2)
    pictures = {}
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(3):
            picture = rng.integers(0, 256, (4, 4)).astype(np.uint8)
            imsave(tmp_path / name / f"{i}.png", picture, cmap="gray", vmin=0, vmax=255)
            pictures[(name, i)] = picture / 255.0
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    images, labels, classes, test = files.load_labelled(tmp_path)
    assert classes == ("cat", "dog") and labels.tolist() == [0, 0, 0, 1, 1, 1] and test is None
    assert images.shape == (6, 1, 4, 4)
    np.testing.assert_allclose(images[4, 0], pictures[("dog", 1)], atol=1 / 255)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv", ".json", "single.json"])
def test_every_image_format_loads_the_same_images(tmp_path, suffix):
    images, _ = fresh_test_set(3, 5)
    path = tmp_path / f"x{suffix}"
    if suffix == ".npy":
        np.save(path, images[:, 0])
    elif suffix == ".npz":
        np.savez(path, images=images)
    elif suffix == ".csv":
        path.write_text("\n".join(",".join(repr(float(v)) for v in image.ravel()) for image in images))
    elif suffix == ".json":
        path.write_text(json.dumps(images[:, 0].tolist()))
    else:
        images = images[:1]
        path.write_text(json.dumps({"image": images[0, 0].tolist()}))
    np.testing.assert_array_equal(files.load_images(path, (1, 5)), images)


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "model.npz"
    target.write_bytes(b"old contents")

    def fail(handle):
        handle.write(b"half a mod")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        files.atomic_write(target, fail)
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def good_model_arrays():
    config = {"format": files.MODEL_FORMAT, "version": files.MODEL_VERSION, "net": str(Architecture.parse()),
              "channels": 1, "image_size": 5, "classes": ["cross", "rectangle"], "data": "shapes"}  # fmt: skip
    return {
        "config": np.array(json.dumps(config)),
        "conv.weight": np.ones((1, 1, 3, 3)),
        "conv.bias": np.ones(1),
        "fc.weight": np.ones((1, 4)),
        "fc.bias": np.zeros(1),
    }


def model_with(**changes):
    arrays = good_model_arrays()
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return arrays


def config_with(**changes):
    config = json.loads(str(good_model_arrays()["config"]))
    config.update(changes)
    return np.array(json.dumps(config))


BAD_MODELS = [
    ("missing key", model_with(**{"fc.bias": None}), "not a cnn-backprop model: missing fc.bias"),
    (
        "wrong shape",
        model_with(**{"fc.weight": np.ones((1, 9))}),
        "fc.weight has shape [1, 9], but the config needs [1, 4]",
    ),
    (
        "config disagrees",
        model_with(config=config_with(net="conv 1x3x3, relu, maxpool 2, dense 1, sigmoid")),
        "fc.weight has shape [1, 4], but the config needs [1, 1]",
    ),
    (
        "older version",
        model_with(config=config_with(version=0)),
        "model format version 0; this cnn-backprop reads versions 1 and 2",
    ),
    ("not our format", model_with(config=np.array(json.dumps({"format": "other"}))), "not a cnn-backprop model"),
    ("config not JSON", model_with(config=np.array("{oops")), "its config is not valid JSON"),
    ("bad config value", model_with(config=config_with(image_size=0)), "config image_size must be a whole number >= 1"),
    ("bad classes", model_with(config=config_with(classes=["a"])), "config classes must be 2 names, got ['a']"),
    ("bad net", model_with(config=config_with(net="conv 1x3x3, dense 1")), "config: a network ends in sigmoid"),
    ("NaN weight", model_with(**{"conv.bias": np.array([np.nan])}), "conv.bias must hold finite numbers, got nan"),
    ("integer weights", model_with(**{"fc.bias": np.zeros(1, dtype=np.int64)}), "fc.bias must hold floats, got int64"),
    (
        "kernel too big",
        model_with(config=config_with(net="conv 1x7x7, relu, maxpool 2 stride 1, dense 1, sigmoid")),
        "config: conv: a 7x7 kernel does not fit a 5x5 image",
    ),
]


@pytest.mark.parametrize("arrays,message", [case[1:] for case in BAD_MODELS], ids=[case[0] for case in BAD_MODELS])
def test_bad_model_files_are_refused(tmp_path, arrays, message):
    path = write_npz(tmp_path / "model.npz", **arrays)
    with pytest.raises(InputError, match=f"^{tmp_path}/model.npz: .*"):
        files.load_model(path)
    with pytest.raises(InputError) as error:
        files.load_model(path)
    assert message in str(error.value)


def test_truncated_and_foreign_and_pickled_model_files(tmp_path, trained):
    arch, network = trained
    good = files.save_model(tmp_path / "good.npz", files.Model(arch, network.params, CLASSES))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:300])
    text = tmp_path / "text.npz"
    text.write_text("hello")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, config=np.array([{"a": 1}], dtype=object))
    for path, message in (
        (truncated, "not a readable .npz file"),
        (text, "not a readable .npz file"),
        (pickled, "holds pickled Python objects, which are never loaded"),
        (tmp_path / "none.npz", "no such file"),
        (tmp_path, "is not a file"),
    ):
        with pytest.raises(InputError, match=message):
            files.load_model(path)


BAD_DATA = [
    ("missing labels", {"images": np.zeros((2, 5, 5))}, "missing 'labels'"),
    ("lengths differ", {"images": np.zeros((2, 5, 5)), "labels": np.zeros(3)},
     "labels must have shape (2,), one per image, got [3]"),
    ("negative label", {"images": np.zeros((2, 5, 5)), "labels": np.array([0, -2])},
     "labels must be whole numbers 0..K-1, got -2"),
    ("fractional label", {"images": np.zeros((2, 5, 5)), "labels": np.array([0, 0.5])},
     "labels must be whole numbers 0..K-1, got 0.5"),
    ("string labels", {"images": np.zeros((1, 5, 5)), "labels": np.array(["a"])},
     "labels must be whole numbers 0..K-1, got dtype <U1"),
    ("too few classes", {"images": np.zeros((2, 5, 5)), "labels": np.array([0, 2]), "classes": np.array(["a", "b"])},
     "classes must be a list of at least 3 names, one per label"),
    ("wrong ndim", {"images": np.zeros((5, 5)), "labels": np.zeros(5)},
     "images must have shape (N, H, W) or (N, C, H, W)"),
    ("not square", {"images": np.zeros((2, 5, 4)), "labels": np.zeros(2)}, "with square images"),
    ("NaN pixel", {"images": np.full((1, 5, 5), np.nan), "labels": np.zeros(1)},
     "images must hold finite numbers, got nan at index [0, 0, 0, 0]"),
    ("string images", {"images": np.full((1, 5, 5), "x"), "labels": np.zeros(1)},
     "images must be numbers, got dtype <U1"),
    ("empty", {"images": np.zeros((0, 5, 5)), "labels": np.zeros(0)}, "N >= 1, got [0, 1, 5, 5]"),
    ("mnist test size differs", {"x_train": np.zeros((2, 5, 5)), "y_train": np.zeros(2), "x_test": np.zeros((1, 4, 4)),
                                 "y_test": np.zeros(1)}, "x_train and x_test images differ in size"),
]  # fmt: skip


@pytest.mark.parametrize("arrays,message", [case[1:] for case in BAD_DATA], ids=[case[0] for case in BAD_DATA])
def test_bad_data_files_are_refused(tmp_path, arrays, message):
    path = write_npz(tmp_path / "data.npz", **arrays)
    with pytest.raises(InputError) as error:
        files.load_labelled(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("x.txt", "1,2", "unknown file type '.txt'; use .npy, .npz, .csv or .json"),
        ("x.csv", "1,2,3", "line 1: expected 25 values (1x5x5 image), got 3"),
        ("x.csv", "a,b\n" + ",".join(["0"] * 25) + "\n" + ",".join(["x"] * 25), "line 3: expected 25 numbers"),
        ("x.csv", "", "no images in the file"),
        ("x.json", "[[1, 2], [3, 4]]", "images are 1x2x2 (channels x height x width), the model expects 1x5x5"),
        ("x.json", '{"image": "no"}', "expected a list of 5x5 images"),
        ("x.json", "", "the file is empty, expected JSON"),
        ("x.npy", b"\x93NUMPY garbage", "not a readable .npy file"),
    ],
)
def test_bad_image_files_are_refused(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError) as error:
        files.load_images(path, (1, 5))
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_pickled_npy_is_never_loaded(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="not a readable .npy file of numbers"):
        files.load_images(path, (1, 5))


def test_written_files_get_ordinary_permissions(tmp_path):
    os.umask(0o022)
    fresh = files.atomic_write(tmp_path / "new.npz", lambda handle: handle.write(b"x"))
    assert fresh.stat().st_mode & 0o777 == 0o644
    (tmp_path / "old.npz").write_bytes(b"old")
    os.chmod(tmp_path / "old.npz", 0o600)
    kept = files.atomic_write(tmp_path / "old.npz", lambda handle: handle.write(b"new"))
    assert kept.stat().st_mode & 0o777 == 0o600 and kept.read_bytes() == b"new"
