"""A flavor's package list (`.manifest`) is parsed into the package labels; a malformed one is refused."""

from __future__ import annotations

from pathlib import Path

from gardenlinux_ocm.artefacts.packages import read_package_list
from support.release import refused_publish

NAME = "aws-gardener_prod-amd64-1473.0-2b1b3a1d.manifest"


def test_name_version_lines_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_text("base-files 1473.0\n\n  bash\t5.2.21-2  \nzlib1g 1:1.2.13.dfsg-1\n")
    assert read_package_list(path) == (
        (("base-files", "1473.0"), ("bash", "5.2.21-2"), ("zlib1g", "1:1.2.13.dfsg-1")), [])


def test_a_malformed_package_list_refuses_the_publish_naming_file_and_line(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / NAME).write_text("base-files 1473.0\nbash 5.2 extra\njust-a-name\n")
    refused_publish(artefacts, tmp_path, f"{NAME}: line 2: 'bash 5.2 extra' is not `name version`",
                    f"{NAME}: line 3: 'just-a-name' is not `name version`")


def test_a_binary_package_list_is_refused(artefacts: Path, tmp_path: Path) -> None:
    (artefacts / NAME).write_bytes(b"\xff\xfe\x00bash")
    refused_publish(artefacts, tmp_path, f"{NAME}: not UTF-8 text (byte 0)")
