"""Write an OCI image archive (with a Docker `manifest.json` beside it) from one root-filesystem layer.

The image's configuration (user, entry point, command, environment, labels, exposed ports, working
directory) is read from the last stage of the repository's Dockerfile, so the image that
tools/build-image.sh makes without Docker and the one `docker build` makes cannot drift apart on those.
Both `ctr images import` and `docker load` read the result.

Usage: archive.py LAYER.tar DOCKERFILE IMAGE_REF OUT.tar
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shlex
import sys
import tarfile
from pathlib import Path
from typing import Any

EPOCH = 0  # every entry of the outer archive gets the same time, so equal inputs give equal archives


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    """The (INSTRUCTION, arguments) pairs of the Dockerfile's last stage, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    stage: list[tuple[str, str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, rest = stripped.partition(" ")
        if keyword.upper() == "FROM":
            stage = []
        stage.append((keyword.upper(), rest.strip()))
    return stage


def _pairs(arguments: str) -> dict[str, str]:
    """KEY=VALUE words of an ENV or LABEL line, with `$PATH`-style references left for the caller."""
    return dict(word.split("=", 1) for word in shlex.split(arguments))


def image_config(dockerfile: Path) -> dict[str, Any]:
    # The Debian root filesystem's own PATH, which the Dockerfile's `ENV PATH=...:$PATH` extends.
    env: dict[str, str] = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    config: dict[str, Any] = {"Labels": {}, "ExposedPorts": {}}
    for keyword, rest in final_stage(dockerfile):
        if keyword == "ENV":
            for name, value in _pairs(rest).items():
                env[name] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
        elif keyword == "LABEL":
            config["Labels"].update(_pairs(rest))
        elif keyword == "USER":
            config["User"] = rest
        elif keyword == "ENTRYPOINT":
            config["Entrypoint"] = json.loads(rest)
        elif keyword == "CMD":
            config["Cmd"] = json.loads(rest)
        elif keyword == "EXPOSE":
            for port in rest.split():
                config["ExposedPorts"][port if "/" in port else f"{port}/tcp"] = {}
        elif keyword == "WORKDIR":
            config["WorkingDir"] = rest
    config["Env"] = [f"{k}={v}" for k, v in env.items()]
    return config


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _add_bytes(out: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), EPOCH, 0o644
    out.addfile(info, io.BytesIO(data))


def _json(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def write_archive(layer: Path, dockerfile: Path, ref: str, out_path: Path) -> dict[str, Any]:
    layer_digest = _sha256_file(layer)
    layer_size = layer.stat().st_size
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": image_config(dockerfile),
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created_by": "tools/build-image.sh", "created": "1970-01-01T00:00:00Z"}],
    }
    config_bytes = _json(config)
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": f"sha256:{config_digest}",
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": f"sha256:{layer_digest}",
                "size": layer_size,
            }
        ],
    }
    manifest_bytes = _json(manifest)
    manifest_digest = hashlib.sha256(manifest_bytes).hexdigest()
    tag = ref.rsplit(":", 1)[1]
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{manifest_digest}",
                "size": len(manifest_bytes),
                "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    docker_manifest = [
        {
            "Config": f"blobs/sha256/{config_digest}",
            "RepoTags": [ref],
            "Layers": [f"blobs/sha256/{layer_digest}"],
        }
    ]
    tmp = out_path.with_suffix(".partial")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as out:
        _add_bytes(out, "oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
        _add_bytes(out, "index.json", _json(index))
        _add_bytes(out, "manifest.json", _json(docker_manifest))
        _add_bytes(out, f"blobs/sha256/{config_digest}", config_bytes)
        _add_bytes(out, f"blobs/sha256/{manifest_digest}", manifest_bytes)
        info = out.gettarinfo(str(layer), arcname=f"blobs/sha256/{layer_digest}")
        info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = EPOCH, 0, 0, "", "", 0o644
        with layer.open("rb") as handle:
            out.addfile(info, handle)
    tmp.rename(out_path)
    return {"ref": ref, "manifest": f"sha256:{manifest_digest}", "layer_bytes": layer_size}


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    layer, dockerfile, ref, out = argv
    print(json.dumps(write_archive(Path(layer), Path(dockerfile), ref, Path(out))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
