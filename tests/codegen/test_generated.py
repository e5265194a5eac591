"""``generated/cosem_pdu.py`` is current, and the reader never loads the code generator.

The generated module is committed; these tests regenerate it in memory and
compare byte for byte, so an edit of the ASN.1 module, the generator or its
templates without ``make generate`` fails here with the diff.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# codegen/ is a build tool at the top of the tree, not part of the installed package.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from codegen.generate import OUTPUT, SOURCE, render  # noqa: E402
from tests.support.daemon import run_python  # noqa: E402


def test_generated_module_is_current() -> None:
    expected = render()
    on_disk = OUTPUT.read_bytes().decode("utf-8") if OUTPUT.is_file() else ""
    if on_disk != expected:
        diff = "".join(
            difflib.unified_diff(
                on_disk.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                fromfile="generated/cosem_pdu.py (committed)",
                tofile="generated/cosem_pdu.py (rendered now)",
            )
        )
        print(diff)
        pytest.fail("generated/cosem_pdu.py is stale; run `make generate`", pytrace=False)


def test_generated_module_names_its_source_and_hash() -> None:
    # Imported by name: mypy cannot follow the installed package to generated/.
    cosem_pdu = importlib.import_module("cosem_reader.axdr.generated.cosem_pdu")
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    assert digest == cosem_pdu.SOURCE_SHA256
    head = OUTPUT.read_text(encoding="utf-8").splitlines()[:4]
    assert any("asn1/COSEMpdu_GB83.asn" in line for line in head)
    assert any(digest in line for line in head)
    assert any("run `make generate`" in line for line in head)


def test_importing_the_reader_loads_neither_jinja2_nor_asn1tools(tmp_path: Path) -> None:
    # A fresh interpreter: in this one the tests themselves have imported the generator.
    code = (
        "import sys\n"
        "import cosem_reader\n"
        "import cosem_reader.axdr.generated.cosem_pdu as m\n"
        "assert len(m.TYPES) > 100\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in "
        "{'jinja2', 'asn1tools', 'codegen', 'pyparsing'}))\n"
    )
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
