"""What the docs promise and the committed demo models carry."""

import json
from pathlib import Path

import onnx
import pytest

from rts_core import contract
from rts_prep.stack import PrepOptions, preprocessing_record

ROOT = Path(__file__).resolve().parents[1]
PARITY_ROWS = ("relative-elevation window", "slope", "terrain resampling", "validity", "Sentinel-2 validity",
               "reflectance range and NDVI",
               "normalisation",
               "tiling and blending", "threshold", "edge zone", "minimum size", "water filter",
               "polygon connectivity")


def test_the_readme_has_a_parity_row_for_each_semantic_choice():
    section = (ROOT / "docs" / "parity.md").read_text()
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    assert rows[0].startswith("| choice | DARTS v1 | darts-nextgen | rtsmap | measured difference |")
    names = [row.split("|")[1].strip() for row in rows[1:]]
    assert names == list(PARITY_ROWS)
    assert all(row.count("|") == 6 for row in rows)


@pytest.mark.parametrize("name, bands", [("tcvis", "tcvis"), ("notcvis", "notcvis"),
                                         ("tcvis-without-rts-free", "tcvis")])
def test_the_demo_models_were_trained_on_stacks_as_rts_prep_makes_them_now(name, bands):
    """The ensemble's two models, and the ablation's model trained without the RTS-free region."""
    model = onnx.load(str(ROOT / "models" / "demo" / f"{name}.onnx"), load_external_data=False)
    meta = json.loads({p.key: p.value for p in model.metadata_props}[contract.MODEL_METADATA_KEY])
    assert meta["preprocessing"] == preprocessing_record(PrepOptions(), "udm2_darts_v1", pixel_m=3.0)
    assert meta["bands"] == list(contract.BAND_SETS[bands]) and meta["name"] == name


@pytest.mark.parametrize("name", ["tcvis", "notcvis"])
def test_the_sentinel2_demo_models_were_trained_on_sentinel2_stacks(name):
    model = onnx.load(str(ROOT / "models" / "demo-s2" / f"{name}.onnx"), load_external_data=False)
    meta = json.loads({p.key: p.value for p in model.metadata_props}[contract.MODEL_METADATA_KEY])
    expected = preprocessing_record(PrepOptions(), "sentinel2_scl_invalid_0-1-2-3-8-9-10-11", pixel_m=10.0,
                                    sensor="Sentinel-2")
    assert meta["preprocessing"] == expected
    assert meta["bands"] == list(contract.BAND_SETS[name])


def test_the_readme_is_short_and_its_links_lead_to_pages_of_the_docs():
    """Issue #30 item 6: a README a newcomer reads (at most about 200 lines: what rtsmap
    is, the two commands, the pipeline, a tour from Python), the rest in docs/ (mkdocs,
    built strict by make docs)."""
    import re

    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert "make demo" in text and "make test" in text
    links = re.findall(r"\]\((docs/[^)#]+)\)", text)
    assert len(links) >= 10 and all((ROOT / link).is_file() for link in links)
    nav = (ROOT / "mkdocs.yml").read_text()
    assert all(page.name in nav for page in (ROOT / "docs").glob("*.md"))
