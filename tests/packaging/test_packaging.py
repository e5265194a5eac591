"""The package as a user gets it: ``--demo`` from the installed data, and the wheel itself."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from cosem_reader import __version__
from cosem_reader.app.cli import main
from cosem_reader.app.config import load_settings
from cosem_reader.demo import DEMO_KEY, capture_path
from tests.support.broker import Broker, broker_fixture  # noqa: F401 - the fixture `broker`
from tests.support.container import container, image
from tests.support.daemon import KEY, Daemon, daemon_environment, push_until_published
from tests.support.pty_meter import PtyMeter
from tests.support.publishing import Subscriber

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_capture_is_package_data() -> None:
    with capture_path() as path:
        assert path.stat().st_size > 0
        # Found through the package, not through the clone's tree.
        assert path.parent.name == "demo"


def test_decode_demo_reads_the_bundled_capture(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--demo"]) == 0
    out, err = capsys.readouterr()
    pushes = [json.loads(line) for line in out.splitlines()]
    assert len(pushes) == 3
    assert {push["system_title"] for push in pushes} == {b"KFMDEMO\x01".hex().upper()}
    assert pushes[0]["values"]["1-0:1.8.0"]["unit"] == "Wh"
    # The demo capture's meter says no UTC deviation: the demo places it in Vienna.
    assert pushes[0]["timestamp"].endswith("+01:00")
    assert err == ""


def test_decode_demo_takes_a_given_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--demo", "--key", "FF" * 16]) == 65
    _out, err = capsys.readouterr()
    assert "wrong key" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["decode"], "no capture given; name a FILE (- for standard input), or try --demo"),
        (["decode", "--demo", "capture.bin"], "--demo and FILE both name a capture"),
        (["read", "--demo", "--replay", "capture.bin"], "--demo and --replay both name a capture"),
    ],
)
def test_demo_misuse_is_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 78
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"cosem-reader: error: {message}")
    assert len(err.splitlines()) == 1


def test_read_demo_prints_every_reading_and_ends() -> None:
    daemon = Daemon(["--demo", "--format", "json"])
    assert daemon.wait() == 0, daemon.output()
    readings = [json.loads(line) for line in daemon.stdout]
    assert [reading["frame_counter"] for reading in readings] == [4096, 4097, 4098]
    assert DEMO_KEY not in daemon.output()


# -- the documented commands -------------------------------------------------------------


def test_the_systemd_steps_name_files_that_exist() -> None:
    steps = (ROOT / "packaging/systemd/README.md").read_text(encoding="utf-8")
    copies = [line.split()[-2] for line in steps.splitlines()
              if line.startswith(("sudo install -m", "sudo cp "))]
    assert "packaging/systemd/config.toml" in copies
    assert [name for name in copies if name != "/dev/null" and not (ROOT / name).exists()] == []


def test_the_example_config_is_valid() -> None:
    settings = load_settings(str(ROOT / "packaging/systemd/config.toml"), env={})
    assert settings.meters[0].serial.port is not None
    assert settings.warnings == ()


def test_the_docs_install_only_what_exists() -> None:
    for name in ("README.md", "docs/daemon.md", "packaging/systemd/README.md"):
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            if re.search(r"pipx? install cosem-reader", line):
                assert "once released" in line.lower(), (name, line)
            assert "src/cosem_reader/demo" not in line or name == "README.md", (name, line)


# -- the wheel ---------------------------------------------------------------------------


def _pip(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, cwd=cwd, check=False, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin directory of a fresh venv with the wheel built from this tree installed."""
    work = tmp_path_factory.mktemp("wheel")
    built = _pip(Path(sys.executable), "wheel", "--no-deps", "--wheel-dir", str(work / "dist"),
                 str(ROOT), cwd=work)
    if built.returncode != 0:
        if "setuptools" in built.stdout + built.stderr and "No matching" in built.stderr:
            pytest.skip("the build backend (setuptools>=77) cannot be fetched: no package index")
        pytest.fail(f"building the wheel failed\n{built.stdout}\n{built.stderr}")
    (wheel,) = (work / "dist").glob("cosem_reader-*.whl")
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    result = _pip(python, "install", "--quiet", str(wheel), cwd=work)
    if result.returncode != 0 and "No matching distribution" in result.stderr:
        pytest.skip(f"the run-time dependencies cannot be fetched: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    return python.parent


def _run_installed(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Outside the clone and without its src/ on the path: only the installed wheel counts.
    environment = daemon_environment(bin_dir)
    environment.pop("PYTHONPATH")
    return subprocess.run([str(bin_dir / "cosem-reader"), *args], capture_output=True,
                          text=True, cwd=bin_dir, env=environment, check=False, timeout=60)


def test_the_wheel_runs_the_demo(installed: Path) -> None:
    version = _run_installed(installed, "--version")
    assert version.stdout == f"cosem-reader {__version__}\n", version.stderr
    decoded = _run_installed(installed, "decode", "--demo", "--format", "text")
    assert decoded.returncode == 0, decoded.stderr
    assert "12345681 Wh" in decoded.stdout
    read = _run_installed(installed, "read", "--demo", "--format", "json")
    assert read.returncode == 0, read.stderr
    assert len(read.stdout.splitlines()) == 3
    # The capture came from the installed package, not from this clone.
    assert str(ROOT) not in read.stderr
    assert "site-packages/cosem_reader/demo/" in read.stderr
    # Only the run-time dependencies came with it.
    site = next((installed.parent / "lib").glob("python3*/site-packages"))
    names = {path.name.split("-")[0].lower() for path in site.iterdir()}
    assert {"cryptography", "serial", "paho", "cosem_reader"} <= names
    assert not names & {"pytest", "hypothesis", "mypy", "asn1tools", "jinja2", "yaml"}


# -- the Dockerfiles (checked in CI, where no image is built) ----------------------------


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = dockerfile.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split()[0].upper(), line.split(None, 1)[1]) for line in lines
            if line and not line.startswith("#")]


def test_the_dockerfile_sends_and_copies_only_what_exists() -> None:
    steps = _instructions(ROOT / "Dockerfile")
    allowed = {line[1:].rstrip("/") for line in
               (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.startswith("!")}
    sources = [part for kind, rest in steps if kind == "COPY" for part in rest.split()[:-1]]
    assert "LICENSE" in sources
    assert [source for source in sources if source.rstrip("/") not in allowed] == []
    assert all((ROOT / source).exists() for source in sources)
    # A real base image by default, and not root at run time.
    assert ("ARG", "BASE=python:3.11-slim") in steps
    assert [rest for kind, rest in steps if kind == "USER"] == ["cosem-reader"]


def test_the_addon_dockerfile_copies_what_its_folder_holds() -> None:
    addon = ROOT / "ha-addon" / "cosem-reader"
    steps = _instructions(addon / "Dockerfile")
    assert steps[0] == ("ARG", "BUILD_FROM")
    assert steps[1] == ("FROM", "${BUILD_FROM}")
    sources = [part for kind, rest in steps if kind == "COPY" for part in rest.split()[:-1]]
    assert sources
    assert all((addon / source).exists() for source in sources)
    cmd = next(rest for kind, rest in steps if kind == "CMD")
    assert (addon / json.loads(cmd)[-1].lstrip("/")).exists()


# -- the image ---------------------------------------------------------------------------


def test_the_image_publishes_a_reading(tmp_path: Path, broker: Broker) -> None:
    cosem_reader_image = image("COSEM_READER_TEST_IMAGE")
    meter = PtyMeter(tmp_path / "ttyUSB-meter")
    subscriber = Subscriber(broker.host, broker.port, ("image/#",))
    # The key file as docs/daemon.md ("Docker") sets it up: the container's user owns it.
    key_file = tmp_path / "container-key"
    key_file.write_text(KEY.hex() + "\n")
    os.chown(key_file, 10001, -1)
    key_file.chmod(0o400)
    try:
        with container(cosem_reader_image, meter, options=[
            "-e", "COSEM_READER_PORT=/dev/ttyUSB0",
            "-e", "COSEM_READER_KEY_FILE=/run/secrets/cosem-reader-key",
            "-v", f"{key_file}:/run/secrets/cosem-reader-key:ro",
            "-e", f"COSEM_READER_MQTT_URL={broker.url}", "-e", "COSEM_READER_TOPIC_BASE=image",
        ]) as process:
            push_until_published(meter, subscriber, process)
    finally:
        subscriber.close()
        meter.close()


def test_the_image_carries_the_licence() -> None:
    cosem_reader_image = image("COSEM_READER_TEST_IMAGE")
    engine = shlex.split(os.environ.get("COSEM_READER_TEST_PODMAN", "podman"))
    machine = shlex.split(os.environ.get("COSEM_READER_TEST_RUN_OPTIONS", ""))
    shown = subprocess.run([*engine, "run", *machine, "--rm", "--entrypoint", "cat",
                            cosem_reader_image, "/usr/share/doc/cosem-reader/LICENSE"],
                           capture_output=True, text=True, check=False, timeout=60)
    assert shown.stdout == (ROOT / "LICENSE").read_text(encoding="utf-8"), shown.stderr
