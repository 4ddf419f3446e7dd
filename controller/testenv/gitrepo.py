"""A real Git repository for GitOps tests, and a loopback HTTP server that serves it to Flux.

The tests act as a user does: write manifests, commit, push-less (the engines read this repository
directly). Argo CD's repo server clones `file:///path`; Flux's source controller accepts only http(s) and
ssh URLs, so `GitHttpServer` puts Git's own smart-HTTP implementation (`git http-backend`, a CGI program)
behind a small threaded HTTP server on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "vertexops tests",
    "GIT_AUTHOR_EMAIL": "tests@vertexops.invalid",
    "GIT_COMMITTER_NAME": "vertexops tests",
    "GIT_COMMITTER_EMAIL": "tests@vertexops.invalid",
    # Never read the machine's or the user's Git configuration (hooks, signing, credential helpers).
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


class GitRepo:
    """A plain (non-bare) repository on branch `main` that tests commit manifests to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        if not (path / ".git").exists():
            self.git("init", "--quiet", "--initial-branch=main")
            # Let a clone over HTTP fetch from this non-bare repository.
            self.git("config", "http.receivepack", "false")

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env={**os.environ, **_GIT_ENV},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def write(self, relative: str, content: str | list[dict[str, Any]] | dict[str, Any]) -> Path:
        """Write a file (a string as is, objects as a multi-document YAML stream)."""
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content)
        else:
            documents = content if isinstance(content, list) else [content]
            target.write_text(yaml.safe_dump_all(documents, sort_keys=False))
        return target

    def copy_in(self, source: Path, relative: str) -> None:
        """Copy a file or a folder of this project (the chart, the CRDs) into the repository."""
        target = self.path / relative
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)

    def remove(self, relative: str) -> None:
        self.git("rm", "-r", "--quiet", relative)

    def commit(self, message: str) -> str:
        """Commit everything in the work tree; return the new commit's SHA."""
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


class _GitCgiHandler(http.server.BaseHTTPRequestHandler):
    """Run `git http-backend` for each request, as a web server runs a CGI program."""

    server: _GitHttpd

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            **os.environ,
            **_GIT_ENV,
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = result.stdout.partition(b"\n\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        if result.returncode != 0 and not head:
            status, payload = 500, result.stderr
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _GitHttpd(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        self.root = root
        super().__init__(("127.0.0.1", 0), _GitCgiHandler)


class GitHttpServer:
    """Serve every repository under `root` at http://127.0.0.1:PORT/NAME (read-only, smart HTTP)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._httpd: _GitHttpd | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> GitHttpServer:
        self._httpd = _GitHttpd(self.root)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="git-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def url_of(self, repo: GitRepo) -> str:
        if self._httpd is None:
            raise RuntimeError("the Git server is not running; call start() first")
        relative = repo.path.resolve().relative_to(self.root.resolve())
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{relative}"

    def __enter__(self) -> GitHttpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
