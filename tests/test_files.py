"""Model and data files: round trips, PyTorch equivalence, every input format, and bad files refused."""

import json
import os
from collections import OrderedDict

import numpy as np
import pytest

from cnn_backprop import files
from cnn_backprop.network import Architecture, Network
from cnn_backprop.train import TrainOptions, fresh_test_set, train
from cnn_backprop.validate import InputError


@pytest.fixture(scope="module")
def trained():
    arch = Architecture(filters=2, conv_padding=1)
    return arch, train(arch, TrainOptions(train_size=400, test_size=100, epochs=3))["network"]


def test_save_load_round_trip_gives_identical_predictions(tmp_path, trained):
    arch, network = trained
    path = files.save_model(tmp_path / "model.npz", arch, network.params)
    loaded_arch, params = files.load_model(path)
    assert loaded_arch == arch
    images, _ = fresh_test_set(50, 1)
    assert network.predict_proba(images).tobytes() == Network(loaded_arch, params).predict_proba(images).tobytes()


def test_model_file_is_plain_arrays_under_pytorch_names(tmp_path, trained):
    arch, network = trained
    path = files.save_model(tmp_path / "model.npz", arch, network.params)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["config", "conv.bias", "conv.weight", "fc.bias", "fc.weight"]
        assert archive["conv.weight"].shape == (2, 1, 3, 3) and archive["fc.weight"].shape == (1, arch.fc_inputs)
        config = json.loads(str(archive["config"]))
    assert config["kernel_size"] == 3 and config["conv_padding"] == 1 and config["image_size"] == 5


def test_saved_model_equals_the_pytorch_model_built_from_its_arrays(tmp_path, trained):
    torch = pytest.importorskip("torch")
    arch, network = trained
    path = files.save_model(tmp_path / "model.npz", arch, network.params)
    config = json.loads(str(np.load(path)["config"]))
    model = torch.nn.Sequential(
        OrderedDict(
            conv=torch.nn.Conv2d(
                1, config["filters"], config["kernel_size"], config["conv_stride"], config["conv_padding"]
            ),
            relu=torch.nn.ReLU(),
            pool=torch.nn.MaxPool2d(config["pool_size"], config["pool_stride"]),
            flatten=torch.nn.Flatten(),
            fc=torch.nn.Linear(arch.fc_inputs, 1),
        )
    ).double()
    with np.load(path) as archive:
        model.load_state_dict({k: torch.from_numpy(archive[k]) for k in archive.files if k != "config"})
    images, _ = fresh_test_set(200, 2)
    with torch.no_grad():
        theirs = torch.sigmoid(model(torch.from_numpy(images)))[:, 0].numpy()
    np.testing.assert_allclose(Network(*files.load_model(path)).predict_proba(images), theirs, rtol=0, atol=1e-12)


def test_dataset_round_trip(tmp_path):
    images, labels = fresh_test_set(20, 4)
    files.save_dataset(tmp_path / "d.npz", images, labels)
    loaded_images, loaded_labels = files.load_dataset(tmp_path / "d.npz", 5)
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)
    np.savez(tmp_path / "squeezed.npz", images=images[:, 0], labels=labels.astype(np.float32))
    np.testing.assert_array_equal(files.load_dataset(tmp_path / "squeezed.npz", 5)[0], images)


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
    np.testing.assert_array_equal(files.load_images(path, 5), images)


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
    arch = Architecture()
    config = {"format": files.MODEL_FORMAT, "version": files.MODEL_VERSION, **arch.to_dict()}
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
        model_with(config=config_with(pool_stride=2)),
        "fc.weight has shape [1, 4], but the config needs [1, 1]",
    ),
    (
        "older version",
        model_with(config=config_with(version=0)),
        "model format version 0; this cnn-backprop reads version 1",
    ),
    ("not our format", model_with(config=np.array(json.dumps({"format": "other"}))), "not a cnn-backprop model"),
    ("config not JSON", model_with(config=np.array("{oops")), "its config is not valid JSON"),
    (
        "bad config value",
        model_with(config=config_with(kernel_size=0)),
        "config kernel_size must be a whole number >= 1, got 0",
    ),
    ("NaN weight", model_with(**{"conv.bias": np.array([np.nan])}), "conv.bias must hold finite numbers, got nan"),
    ("integer weights", model_with(**{"fc.bias": np.zeros(1, dtype=np.int64)}), "fc.bias must hold floats, got int64"),
    ("kernel too big", model_with(config=config_with(kernel_size=7)), "a 7x7 kernel does not fit a 5x5 image"),
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
    good = files.save_model(tmp_path / "good.npz", arch, network.params)
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
    (
        "lengths differ",
        {"images": np.zeros((2, 5, 5)), "labels": np.zeros(3)},
        "labels must have shape (2,), one per image, got [3]",
    ),
    (
        "label 2",
        {"images": np.zeros((2, 5, 5)), "labels": np.array([0, 2])},
        "labels must be 0 (cross) or 1 (rectangle), got 2",
    ),
    ("string labels", {"images": np.zeros((1, 5, 5)), "labels": np.array(["a"])}, "labels must be the numbers 0 or 1"),
    (
        "wrong image size",
        {"images": np.zeros((2, 6, 6)), "labels": np.zeros(2)},
        "images are 6x6, the model expects 5x5",
    ),
    (
        "wrong ndim",
        {"images": np.zeros((5, 5)), "labels": np.zeros(5)},
        "images must have shape (N, H, W) or (N, 1, H, W)",
    ),
    (
        "NaN pixel",
        {"images": np.full((1, 5, 5), np.nan), "labels": np.zeros(1)},
        "images must hold finite numbers, got nan at index [0, 0, 0]",
    ),
    (
        "string images",
        {"images": np.full((1, 5, 5), "x"), "labels": np.zeros(1)},
        "images must be numbers, got dtype <U1",
    ),
    ("empty", {"images": np.zeros((0, 5, 5)), "labels": np.zeros(0)}, "N >= 1, got [0, 5, 5]"),
]


@pytest.mark.parametrize("arrays,message", [case[1:] for case in BAD_DATA], ids=[case[0] for case in BAD_DATA])
def test_bad_data_files_are_refused(tmp_path, arrays, message):
    path = write_npz(tmp_path / "data.npz", **arrays)
    with pytest.raises(InputError) as error:
        files.load_dataset(path, 5)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("x.txt", "1,2", "unknown file type '.txt'; use .npy, .npz, .csv or .json"),
        ("x.csv", "1,2,3", "line 1: expected 25 values (5x5 image), got 3"),
        ("x.csv", "a,b\n" + ",".join(["0"] * 25) + "\n" + ",".join(["x"] * 25), "line 3: expected 25 numbers"),
        ("x.csv", "", "no images in the file"),
        ("x.json", "[[1, 2], [3, 4]]", "images are 2x2, the model expects 5x5"),
        ("x.json", '{"image": "no"}', "expected a list of 5x5 images"),
        ("x.json", "", "the file is empty, expected JSON"),
        ("x.npy", b"\x93NUMPY garbage", "not a readable .npy file"),
    ],
)
def test_bad_image_files_are_refused(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError) as error:
        files.load_images(path, 5)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_pickled_npy_is_never_loaded(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="not a readable .npy file of numbers"):
        files.load_images(path, 5)


def test_written_files_get_ordinary_permissions(tmp_path):
    os.umask(0o022)
    fresh = files.atomic_write(tmp_path / "new.npz", lambda handle: handle.write(b"x"))
    assert fresh.stat().st_mode & 0o777 == 0o644
    (tmp_path / "old.npz").write_bytes(b"old")
    os.chmod(tmp_path / "old.npz", 0o600)
    kept = files.atomic_write(tmp_path / "old.npz", lambda handle: handle.write(b"new"))
    assert kept.stat().st_mode & 0o777 == 0o600 and kept.read_bytes() == b"new"
