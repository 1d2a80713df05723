"""workflow/demo_report.py: the demo world's table, from rts-validate's metrics."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("demo_report", ROOT / "workflow" / "demo_report.py")
demo_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo_report)


def scores(precision, recall, n_pred, n_ref):
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "n_pred": n_pred, "n_ref": n_ref,
            "tp": round(precision * n_pred), "tp_ref": round(recall * n_ref)}


def test_the_summary_maps_classes_to_darts_and_lists_each_run(tmp_path):
    runs = {"ensemble": 0.5, "single": 0.4, "without_rts_free": 0.3}
    for name, precision in runs.items():
        folder = tmp_path / "report" / name
        folder.mkdir(parents=True)
        metrics = {"overall": scores(precision, 0.9, 100, 50),
                   "groups": [{"group": {"region": 5, "year": 2022}, **scores(0.8, 0.9, 30, 20)},
                              {"group": {"region": 5, "year": 2023}, **scores(0.8, 0.9, 30, 30)},
                              {"group": {"region": 6, "year": 2023}, **scores(0.0, 0.0, 40, 0)}],
                   "anatomy": {"false_positives": {"by_landcover": [
                       {"class": "bare ground", "count": 30, "share": 0.6},
                       {"class": "ALD", "count": 5, "share": 0.1}, {"class": "old scar", "count": 5, "share": 0.1},
                       {"class": "infrastructure", "count": 10, "share": 0.2}]}}}
        (folder / "metrics.json").write_text(json.dumps(metrics))
    text = demo_report.summary(tmp_path)
    assert (tmp_path / "report" / "report.md").read_text() == text
    assert "| 5 | 0.80 | 0.90 | 0.85 | 60 | 50 |" in text and "| 6 | 0.00 | 0.00 | 0.00 | 40 | 0 |" in text
    assert "| bare ground | 60 % | 30 | 64 % | bare ground 30 |" in text
    assert "| periglacial landforms | 20 % | 10 | 4 % | ALD 5, old scar 5 |" in text  # together, as DARTS
    assert "| other | 20 % | 10 | 5 % | infrastructure 10 |" in text and "| lakes | 0 % | 0 | 8 % |  |" in text
    assert "| one model (tcvis) trained without the RTS-free region | 0.30 | 0.90 | 0.45 |" in text
