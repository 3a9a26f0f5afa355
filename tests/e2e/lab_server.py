"""A private JupyterLab server on a temporary copy of the course, for the browser tests.

Everything the server, its kernels and nbgrader read or write lives under one
temporary folder, so the repository and the user's own Jupyter setup are never
touched:

    <tmp>/course/            the server's root: a copy of solutions/, lessons/,
                             datasets/ and autograder/nbgrader_config.py
    <tmp>/course/e2e/        notebooks the scenarios open, one folder each
    <tmp>/course/student/    the student's side of the exchange (fetched lessons)
    <tmp>/exchange/          the nbgrader exchange (release, submit, collect)
    <tmp>/jupyter/           JUPYTER_CONFIG_DIR, JUPYTER_DATA_DIR, runtime, settings
    <tmp>/home/              HOME (matplotlib and other per-user caches)

Besides the Python environment's own, the only configuration read from outside
is the course's (``jupyter-config/`` in JUPYTER_CONFIG_PATH, as ``make lab``
sets it), unless a server is started without it (``course_settings=False``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # a dependency of ipykernel
from nbgrader.utils import get_username

from rnncourse.course import Course
from rnncourse.instructor.nbgrader_course import run_nbgrader

REPO = Path(__file__).resolve().parents[2]
COURSE_ID = "rnncourse"
STUDENT = get_username()  # the exchange files a submission under the OS user who made it

# The course's own JupyterLab defaults, as `make lab` gives them to students
# (JUPYTER_CONFIG_PATH): no news prompt and no update check over the dialogs.
COURSE_JUPYTER_CONFIG = REPO / "jupyter-config"

# The test user's own JupyterLab settings: every cell kept in the page (by
# default JupyterLab renders only the cells near the viewport, so the n-th cell
# in the DOM would not be the n-th cell of the notebook, and a markdown cell far
# down would not be rendered at all).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_course(dest: Path) -> Course:
    """Copy what a course folder needs (never the gradebook or student work) into ``dest``."""
    for folder in ("solutions", "lessons", "datasets"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns(".*"))
    (dest / "autograder").mkdir(parents=True)
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", dest / "autograder")
    return Course(dest)


@dataclass
class LabServer:
    """A running ``jupyter lab``: its URL and token, its folders and its process."""

    tmp: Path
    port: int
    token: str
    process: subprocess.Popen | None = None
    # the user's own settings ({} for a fresh user), and whether the course's
    # defaults (COURSE_JUPYTER_CONFIG) are in force, as with `make lab`
    user_settings: dict = field(default_factory=lambda: dict(LAB_SETTINGS))
    course_settings: bool = True

    @property
    def course(self) -> Course:
        return Course(self.tmp / "course")

    @property
    def root(self) -> Path:
        return self.tmp / "course"

    @property
    def exchange(self) -> Path:
        return self.tmp / "exchange"

    @property
    def student_dir(self) -> Path:
        return self.root / "student"

    @property
    def log_path(self) -> Path:
        return self.tmp / "jupyter-lab.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """A page of the server, with the token."""
        return f"{self.base_url}/{path}?token={self.token}"

    def env(self) -> dict[str, str]:
        """The environment of the server, its kernels and the nbgrader commands."""
        jupyter = self.tmp / "jupyter"
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # kernels must use the inline backend, as for a student
        env.update(
            {
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
                "HOME": str(self.tmp / "home"),
                "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
                "JUPYTER_DATA_DIR": str(jupyter / "data"),
                "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
                "JUPYTERLAB_SETTINGS_DIR": str(jupyter / "config" / "lab" / "user-settings"),
                "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "workspaces"),
                "IPYTHONDIR": str(jupyter / "ipython"),
                # only the course's config folder (if any) besides the private one
                "JUPYTER_CONFIG_PATH": str(COURSE_JUPYTER_CONFIG) if self.course_settings else "",
                "RNNCOURSE_DEVICE": "cpu",
                # the instructor's side: autograder/nbgrader_config.py reads these
                "RNNCOURSE_COURSE_ID": COURSE_ID,
                "RNNCOURSE_EXCHANGE": str(self.exchange),
            }
        )
        return env

    def prepare(self) -> None:
        """Copy the course and write the private Jupyter configuration."""
        copy_course(self.root)
        (self.root / "e2e").mkdir()
        self.student_dir.mkdir()
        self.exchange.mkdir()
        (self.tmp / "home").mkdir()
        env = self.env()
        config_dir = Path(env["JUPYTER_CONFIG_DIR"])
        Path(env["JUPYTERLAB_SETTINGS_DIR"]).mkdir(parents=True, exist_ok=True)
        for name, values in self.user_settings.items():
            path = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        # The student's side: the Assignments panel reads nbgrader_config.py from
        # the server's root or the Jupyter config folder; the course's own config
        # (autograder/) is the instructor's.
        (config_dir / "nbgrader_config.py").write_text(
            "c = get_config()  # noqa: F821\n"
            f"c.Exchange.root = {str(self.exchange)!r}\n"
            f"c.Exchange.assignment_dir = {str(self.student_dir)!r}\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        )

    def start(self, timeout: float = 180.0) -> None:
        """Start ``jupyter lab`` and wait until its API answers."""
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.allow_root=True",  # CI containers often run as root
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to open documents
        ]
        log = self.log_path.open("w")
        # The working folder is autograder/: the Formgrader reads the course's
        # nbgrader_config.py from there, and the course root must lie inside the
        # server's root (it does: autograder/ is a subfolder of course/).
        self.process = subprocess.Popen(
            cmd,
            cwd=self.root / "autograder",
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with code {self.process.returncode} before it "
                    f"answered:\n{self.log_tail()}"
                )
            try:
                self.api("GET", "api/status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise TimeoutError(f"jupyter lab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def api(self, method: str, path: str, body: dict | None = None) -> object:
        """Call the server's REST API; returns the decoded JSON answer (None if empty)."""
        request = urllib.request.Request(
            f"{self.base_url}/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            data=json.dumps(body).encode() if body is not None else None,
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    def start_session(self, path: str) -> str:
        """Start the kernel session of a notebook; returns the kernel's id.

        JupyterLab connects to this session when it opens the notebook, instead of
        starting a kernel itself: on a loaded machine it sometimes started two
        for one notebook and shut the first down while cells were queued on it.
        """
        model = {"path": path, "name": Path(path).name, "type": "notebook"}
        session = self.api("POST", "api/sessions", {**model, "kernel": {"name": "python3"}})
        return session["kernel"]["id"]

    def shutdown_kernels(self) -> None:
        """Stop every session and kernel, so that the next scenario has the CPU to itself."""
        for kind in ("sessions", "kernels"):
            for item in self.api("GET", f"api/{kind}"):
                try:
                    self.api("DELETE", f"api/{kind}/{item['id']}")
                except urllib.error.HTTPError as e:
                    if e.code != 404:  # 404: it went away on its own meanwhile
                        raise

    def stop(self) -> None:
        """Stop the server and everything it started, politely first."""
        if self.process is None or self.process.poll() is not None:
            return
        # Kernels run in sessions of their own: remember them before the server goes.
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        os.killpg(self.process.pid, signal.SIGTERM)  # the server shuts its kernels down
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        _gone, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            child.kill()

    def log_tail(self, chars: int = 4000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-chars:]

    def place_notebook(self, scenario: str, name: str, notebook: dict) -> str:
        """Write a notebook for a scenario; returns its path relative to the server's root."""
        path = self.root / "e2e" / scenario / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(notebook, ensure_ascii=False, indent=1))
        return path.relative_to(self.root).as_posix()

    def nbgrader(self, *args: str) -> subprocess.CompletedProcess:
        """Run an instructor's ``nbgrader`` command in the course copy (raises on failure)."""
        return run_nbgrader(self.course, *args, env=self.env())


@contextmanager
def running_lab(tmp: Path, **options) -> Iterator[LabServer]:
    """A prepared and started LabServer on a free port with a fresh token, in
    ``tmp``; stopped whatever happens. ``options``: LabServer's other fields."""
    server = LabServer(tmp=tmp, port=free_port(), token=secrets.token_hex(16), **options)
    try:
        server.prepare()
        server.start()
        yield server
    finally:
        server.stop()
