"""Issue #29 item 6: inputs as users hold them. A zipped shapefile, read through GDAL's
/vsizip/ (the absolute path's // kept), was refused by rts-validate as "no such file"."""

import json
import zipfile

import geopandas
from shapely.geometry import box

from tests.conftest import run_script

CRS = "EPSG:32608"


def zipped_shapefile(folder, name, geometries):
    """``folder``/S1.zip holding S1/``name``.shp and its side files, as inventories ship."""
    inner = folder / "S1"
    inner.mkdir(parents=True, exist_ok=True)
    geopandas.GeoDataFrame({"id": range(len(geometries))}, geometry=geometries, crs=CRS).to_file(
        inner / f"{name}.shp", engine="pyogrio")
    archive = folder / "S1.zip"
    with zipfile.ZipFile(archive, "a") as handle:
        for part in inner.glob(f"{name}.*"):
            handle.write(part, f"S1/{part.name}")
    return f"/vsizip/{archive}/S1/{name}.shp"  # archive is absolute: /vsizip//tmp/...


def test_zipped_shapefiles_as_predictions_and_references(tmp_path):
    x, y = 500_000, 7_700_000
    reference = zipped_shapefile(tmp_path, "reference", [box(x, y, x + 50, y + 50), box(x + 500, y, x + 550, y + 50)])
    prediction = zipped_shapefile(tmp_path, "prediction", [box(x + 10, y + 10, x + 60, y + 60)])
    assert reference.startswith("/vsizip//")
    done = run_script("rts-validate", "objects", prediction, reference, "-o", tmp_path / "v")
    assert done.returncode == 0, done.stderr
    overall = json.loads((tmp_path / "v" / "metrics.json").read_text())["overall"]
    assert (overall["n_pred"], overall["n_ref"], overall["tp"], overall["fn"]) == (1, 2, 1, 1)


def test_a_missing_member_of_a_zip_is_one_error_line(tmp_path):
    x, y = 500_000, 7_700_000
    reference = zipped_shapefile(tmp_path, "reference", [box(x, y, x + 50, y + 50)])
    missing = reference.replace("reference.shp", "nothing.shp")
    done = run_script("rts-validate", "objects", missing, reference, "-o", tmp_path / "v")
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1 and len(errors) == 1 and errors[0].startswith(f"error: {missing}: ")
    assert not (tmp_path / "v").exists()
