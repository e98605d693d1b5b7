"""The findings check decides from the numbers alone: a clear effect holds, no effect or the wrong sign does not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.errors import BenchError
from pocket.findings import FINDINGS, Finding, Outcome, evaluate_all, markdown_table


def _write(run_dir, method, rows):
    (run_dir / method).mkdir(parents=True)
    (run_dir / method / "scores.json").write_text(json.dumps({"per_subject": rows}))


def _rows(values, metric="dino", oracle=None):
    return [
        {
            "subject": f"s{i}",
            metric: v,
            f"n_{metric}": 4,
            **({f"oracle-{metric}": oracle[i]} if oracle is not None else {}),
        }
        for i, v in enumerate(values)
    ]


def test_a_clear_effect_holds_and_the_wrong_sign_or_noise_does_not(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.4, 20)
    oracle = base + 0.5
    _write(tmp_path, "base", _rows(base, oracle=oracle))
    _write(tmp_path, "textual-inversion", _rows(base + 0.05 + rng.normal(0, 0.01, 20), oracle=oracle))
    # dreambooth *below* textual inversion: the paper's claim must not be reported as holding
    _write(tmp_path, "dreambooth", _rows(base + 0.02 + rng.normal(0, 0.01, 20), oracle=oracle))
    claims = (
        Finding("t", "dino", "textual-inversion", "base"),
        Finding("t", "dino", "dreambooth", "textual-inversion"),
        Finding("t", "dino", "oracle", "dreambooth"),
        Finding("t", "dino", "dreambooth-no-class", "base"),
    )
    ti_base, db_ti, oracle_db, not_run = evaluate_all(tmp_path, claims)
    assert ti_base.holds and ti_base.n_subjects == 20 and ti_base.p_value < 0.01
    assert not db_ti.holds and db_ti.difference < 0 and db_ti.p_value < 0.01
    assert oracle_db.holds and oracle_db.difference == pytest.approx(0.48, abs=0.01)
    assert not isinstance(not_run, Outcome)
    table = markdown_table([ti_base, db_ti, oracle_db, not_run])
    assert "| **no** |" in table and "not run" in table


def test_a_lower_is_better_claim_holds_only_when_lower(tmp_path):
    low = np.linspace(0.1, 0.3, 12)
    _write(tmp_path, "dreambooth", _rows(low, metric="pres"))
    _write(tmp_path, "dreambooth-no-prior", _rows(low + 0.2, metric="pres"))
    (pres,) = evaluate_all(tmp_path, (Finding("Table 3", "pres", "dreambooth", "dreambooth-no-prior", higher=False),))
    assert pres.holds and pres.difference == pytest.approx(-0.2)
    (wrong,) = evaluate_all(tmp_path, (Finding("Table 3", "pres", "dreambooth-no-prior", "dreambooth", higher=False),))
    assert not wrong.holds


def test_the_paper_findings_cover_tables_1_3_and_4_and_a_run_without_scores_is_refused(tmp_path):
    required = {(f.source.split()[0] + " " + f.source.split()[1], f.metric) for f in FINDINGS if f.required}
    assert {("Table 1", "dino"), ("Table 1", "clip-i"), ("Table 1", "clip-t")} <= required
    assert {("Table 3", "pres"), ("Table 3", "div"), ("Table 4", "dino")} <= required
    with pytest.raises(BenchError, match="no scores.json"):
        evaluate_all(tmp_path)
