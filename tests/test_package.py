"""The package as an index gets it: ``python -m build`` makes an sdist and a wheel from a copy of the tree,
``twine check`` passes them, the metadata says what the project is and where it lives (from the one home URL
in pyproject.toml), the long description's images are absolute links, and the sdist's own tests run.

The build runs without isolation (``--no-isolation``: setuptools from this environment, nothing downloaded), so
it runs offline as the rest of the tests do.
"""

import email
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import cnn_backprop as cb
from cnn_backprop.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("build", reason="the dev extras install build and twine")
TWINE = shutil.which("twine", path=str(Path(sys.executable).parent))
# what a checkout holds that is not the project's (left by running it)
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "site", "figures", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".hypothesis", "*.tmp")  # fmt: skip


def home():
    spec = importlib.util.spec_from_file_location("setup_of_the_package", ROOT / "setup.py")
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)  # its setup() runs only as __main__
    return setup.HOME


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist and the wheel built from it, as ``python -m build`` makes them from a copy of this tree."""
    work = tmp_path_factory.mktemp("package")
    shutil.copytree(ROOT, work / "tree", ignore=NOT_SOURCE)
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "dist"),
                           str(work / "tree")], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (sdist,) = (work / "dist").glob("*.tar.gz")
    (wheel,) = (work / "dist").glob("*.whl")
    return work, sdist, wheel


def test_twine_check_passes(dist):
    if TWINE is None:
        pytest.skip("twine is not installed (the dev extras install it)")
    _, sdist, wheel = dist
    done = subprocess.run([TWINE, "check", "--strict", str(sdist), str(wheel)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2


def test_the_metadata_says_what_it_is_and_where_it_lives(dist):
    _, _, wheel = dist
    with zipfile.ZipFile(wheel) as archive:
        metadata = email.message_from_bytes(archive.read(f"cnn_backprop-{cb.__version__}.dist-info/METADATA"))
    assert metadata["Version"] == cb.__version__ and metadata["License-Expression"] == "MIT"
    assert metadata["Author"] == "cnn-backprop developers" and "backpropagation" in metadata["Keywords"]
    base = home()
    urls = [f"Documentation, {base}/tree/main/docs", f"Source, {base}", f"Issues, {base}/issues",
            f"Changelog, {base}/blob/main/CHANGELOG.md"]  # fmt: skip
    assert metadata.get_all("Project-URL") == urls
    classifiers = metadata.get_all("Classifier")
    for wanted in ("Intended Audience :: Education", "Intended Audience :: Science/Research",
                   "Operating System :: OS Independent", *(f"Programming Language :: Python :: 3.{v}"
                                                           for v in range(10, 14))):  # fmt: skip
        assert wanted in classifiers
    description = metadata.get_payload()
    readme = (ROOT / "README.md").read_text()
    images = readme.count("![")
    assert images and description.count(f"]({base}/raw/main/docs/") == images
    assert "](docs/" not in description  # nothing relative is left to break on the index page


def test_the_sdist_carries_its_tests_and_they_run(dist):
    work, sdist, _ = dist
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "unpacked", filter="data")
    (tree,) = (work / "unpacked").iterdir()
    for needed in ("tests/conftest.py", "tests/kinds/test_tanh.py", "notebooks/backprop_walkthrough.ipynb",
                   "CHANGELOG.md", "mkdocs.yml", "docs/index.md", "scripts/doc_blocks.py"):  # fmt: skip
        assert (tree / needed).is_file(), needed
    env = {"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"}  # the sdist's code, not this checkout's
    where = subprocess.run([sys.executable, "-c", "import cnn_backprop; print(cnn_backprop.__file__)"], cwd=tree,
                           env=env, capture_output=True, text=True)  # fmt: skip
    assert where.stdout.startswith(str(tree / "src"))
    run = [sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "tests/test_kinds.py",
           "tests/kinds/test_tanh.py"]  # fmt: skip
    done = subprocess.run(run, cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and " passed" in done.stdout, done.stdout[-3000:]


def test_help_says_where_to_start_and_names_every_command():
    assert cb.__doc__.lstrip().splitlines()[2].startswith("Start here.")
    commands = cb.__doc__.split("The command line")[1].split("\n\n")[0]
    for command in COMMANDS:
        assert command in commands, command


def size_of(folder):
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file() and not path.is_symlink())


def test_the_wheel_alone_in_a_fresh_environment_offline_runs_the_readmes_index_path(dist, tmp_path):
    """What a newcomer from the index does, as the README says it: `pip install cnn-backprop`, then its commands.
    The dependencies are gathered first as wheels (by pip, from its cache or the index it is set up with); the
    install itself is offline (--no-index): nothing but the wheel and what it names."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import doc_blocks

    _, _, wheel = dist
    wheels = tmp_path / "wheels"
    gathered = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:", "--dest",
                               str(wheels), str(wheel)], capture_output=True, text=True, timeout=600)  # fmt: skip
    if gathered.returncode != 0:
        pytest.skip(f"pip could not gather the dependencies' wheels (no network, no cache): {gathered.stderr[-500:]}")
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(fresh)], check=True, timeout=300)
    empty = size_of(fresh)
    (block,) = [b for b in doc_blocks.blocks(ROOT / "README.md") if doc_blocks.INSTALL in b.body]
    offline = f"{doc_blocks.INSTALL} --no-index --find-links {wheels}"
    script = block.text_to_run().replace(doc_blocks.INSTALL, offline)
    env = {"PATH": f"{fresh / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "PIP_NO_INDEX": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_CONFIG_FILE": os.devnull}  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=work, env=env, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (work / "explore.html").stat().st_size > 100_000
    (shown,) = [b for b in doc_blocks.blocks(ROOT / "README.md") if b.argument == "cnn-backprop walkthrough"]
    # the walkthrough the README shows, digit for digit (but for rounding noise below 1e-8, as the README test has it)
    assert doc_blocks.without_noise(shown.body) in doc_blocks.without_noise(done.stdout)

    def run(*command):
        ran = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600, check=True)
        return ran.stdout

    installed = {line.split()[0].lower() for line in run("pip", "list", "--format", "freeze").splitlines()}
    installed = {name.split("==")[0] for name in installed}
    assert "cnn-backprop" in installed and not installed & {"scikit-learn", "scipy", "torch"}, installed
    assert cb.DOCUMENTATION.startswith(home()) and cb.DOCUMENTATION in run("cnn-backprop", "--help")
    assert cb.DOCUMENTATION in run("python", "-c", "import cnn_backprop, pydoc; print(pydoc.render_doc(cnn_backprop))")
    # the digits the wheel carries train to the very numbers they train to here
    fresh_run = json.loads(run("cnn-backprop", "train", "--data", "digits", "--epochs", "2", "--quiet", "--json"))
    here = cb.fit(source="digits", epochs=2)
    assert (fresh_run["test_accuracy"], fresh_run["test_loss"]) == (here["test_accuracy"], here["test_loss"])
    # What the package adds to an empty environment: NumPy (73 MB) and Matplotlib with fontTools and Pillow (94
    # MB) make nearly all of it, 169 MB on 2026-12-06; with scikit-learn and SciPy (164 MB more) it was twice that.
    weight = (size_of(fresh) - empty) / 2**20
    assert weight < 200, f"{weight:.0f} MB"
    print(f"the fresh environment: {size_of(fresh) / 2**20:.0f} MB, {weight:.0f} MB of it installed by the wheel")


def test_the_documentation_address_is_the_one_home_s_in_the_readme_help_and_metadata():
    readme = (ROOT / "README.md").read_text()
    assert f"Documentation: {cb.DOCUMENTATION}\n" in readme and cb.DOCUMENTATION.startswith(home())
    assert cb.__doc__.rstrip().endswith(f"Documentation: {cb.DOCUMENTATION}")
    from cnn_backprop.cli import build_parser

    assert build_parser().format_help().rstrip().endswith(f"Documentation: {cb.DOCUMENTATION}")
