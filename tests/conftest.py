from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "data_dictionary" / "examples"


def valid_panel(units=("Durham", "Kent"), periods=None, level="force") -> pd.DataFrame:
    """A small valid force-by-quarter panel with a count and a proportion measure."""
    periods = periods or [f"{y}-Q{q}" for y in (2020, 2021, 2022) for q in (1, 2, 3, 4)]
    rows = []
    for i, u in enumerate(units):
        for j, p in enumerate(periods):
            n = 10 + i + j
            den = 200 + 5 * j
            rows.append((level, u, p, "charges", n, n, None))
            rows.append((level, u, p, "police_charge_rate", round(n / den, 6), n, den))
    return pd.DataFrame(
        rows, columns=["level", "unit", "period", "measure", "value", "numerator", "denominator"]
    )


@pytest.fixture
def panel_df() -> pd.DataFrame:
    return valid_panel()


@pytest.fixture
def cases_df() -> pd.DataFrame:
    return pd.read_csv(EXAMPLES / "case_records.csv", dtype=str, keep_default_na=False)


@pytest.fixture
def rollout_df() -> pd.DataFrame:
    return pd.read_csv(
        REPO / "data_dictionary" / "data" / "rollout.csv", dtype=str, keep_default_na=False
    )


@pytest.fixture(scope="session")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated data folder (5% of the default volumes), made once per session."""
    from soteria_eval.simulate import SimulationConfig, write_simulation

    return write_simulation(tmp_path_factory.mktemp("data") / "sim", SimulationConfig(scale=0.05))


@pytest.fixture(scope="session")
def quick_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plan with quick studies: coverage 60 replications, recovery 2 seeds, placebo 40 draws."""
    import shutil

    d = tmp_path_factory.mktemp("plan") / "analyses"
    shutil.copytree(REPO / "analyses", d, ignore=shutil.ignore_patterns("__pycache__"))
    text = (d / "plan.yaml").read_text()
    assert (
        "reps: 1000\n      reps_slow: 200" in text
        and "seeds: 200\n      world: calibrated\n      jobs: 2" in text
    )
    text = text.replace("reps: 1000\n      reps_slow: 200", "reps: 60\n      reps_slow: 12")
    # The recovery study: two seeds of a small world (its full run is in make evaluate).
    text = text.replace(
        "seeds: 200\n      world: calibrated\n      jobs: 2",
        "seeds: 2\n      world: calibrated\n      jobs: 1\n      scale: 0.05\n      draws: 49",
    )
    # The real-data placebo study: 40 fake rollouts (its full run is in make evaluate).
    assert "draws: 1000\n      boot: 399\n      jobs: 2" in text
    text = text.replace(
        "draws: 1000\n      boot: 399\n      jobs: 2", "draws: 40\n      boot: 19\n      jobs: 1"
    )
    (d / "plan.yaml").write_text(text)
    return d / "plan.yaml"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory, small_data: Path) -> Path:
    """A data folder of 40 cases per force (CSV) and metadata: quick to validate."""
    import json

    d = tmp_path_factory.mktemp("tiny") / "data"
    d.mkdir()
    cases = pd.read_parquet(small_data / "case_records.parquet")
    cases.groupby("force", group_keys=False).head(40).to_csv(
        d / "case_records.csv", index=False, date_format="%Y-%m-%d"
    )
    (d / "metadata.json").write_text(json.dumps({"extract_date": "2025-12-31", "synthetic": True}))
    return d


#: Test modules that run the evaluation, build the book or the refresh workflow end to end:
#: the integration tier (``make test-integration``, called by ``.ci/run``), not ``make test``.
INTEGRATION_MODULES = frozenset(
    {"test_book.py", "test_book_render.py", "test_pipeline.py", "test_refresh.py"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`INTEGRATION_MODULES` ``integration``."""
    for item in items:
        if item.path.name in INTEGRATION_MODULES:
            item.add_marker(pytest.mark.integration)
