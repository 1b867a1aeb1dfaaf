"""stslab.cluster.images.oci: an OCI image layout tarball from a root filesystem, byte-stable."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from stslab.cluster.images import oci as ociimage


def _rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "bin/hello").write_text("#!/bin/sh\necho hi\n")
    (root / "bin/hi").symlink_to("/bin/hello")
    return root


def test_archive_layout_and_names(tmp_path: Path) -> None:
    images = [
        ociimage.Image(names=["stslab.local/a:1", "docker.io/library/a:2"]),
        ociimage.Image(names=["stslab.local/b:1"], entrypoint=["/bin/hello"], cmd=()),
    ]
    archive = ociimage.write_archive(_rootfs(tmp_path), images, tmp_path / "out.tar")
    with tarfile.open(archive) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    names = [m["annotations"][ociimage.NAME_ANNOTATION] for m in index["manifests"]]
    assert names == ["stslab.local/a:1", "docker.io/library/a:2", "stslab.local/b:1"]

    def blob(digest: str) -> bytes:
        return files[f"blobs/sha256/{digest.split(':')[1]}"]

    manifest = json.loads(blob(index["manifests"][2]["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))
    assert config["config"]["Entrypoint"] == ["/bin/hello"]
    assert config["rootfs"]["diff_ids"] == [manifest["layers"][0]["digest"]]
    layer = tarfile.open(fileobj=io.BytesIO(blob(manifest["layers"][0]["digest"])))
    members = {m.name: m for m in layer.getmembers()}
    assert members["bin/hi"].issym() and members["bin/hi"].linkname == "/bin/hello"
    assert all(m.uid == 0 and m.mtime == 0 for m in members.values())


def test_archive_is_reproducible(tmp_path: Path) -> None:
    root = _rootfs(tmp_path)
    images = [ociimage.Image(names=["x:1"])]
    one = ociimage.write_archive(root, images, tmp_path / "1.tar").read_bytes()
    two = ociimage.write_archive(root, images, tmp_path / "2.tar").read_bytes()
    assert one == two


@pytest.mark.skipif(not ociimage.BUSYBOX.is_file(), reason="no /bin/busybox (busybox-static)")
def test_busybox_rootfs(tmp_path: Path) -> None:
    root = ociimage.busybox_rootfs(tmp_path / "bb")
    assert (root / "bin/busybox").is_file()
    assert (root / "bin/sh").is_symlink()
    assert (root / "etc/passwd").read_text().startswith("root:")
