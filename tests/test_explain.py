"""``eventstudy events check --explain``: the effective settings, every default filled in."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eventstudy import cli
from eventstudy.events import StudyConfig, load_config
from eventstudy.explain import MAX_LISTED_ASSETS, explain_study

FIXTURE = Path(__file__).parent / "fixtures" / "events" / "minimal.yaml"
NEWCOMER = """
assets:
  - {ticker: ^N225}
  - {ticker: 8035.T, name: Tokyo Electron, attributes: {sector: Chips}}
events:
  - {id: e1, category: tariffs, announced: '2025-04-02T16:00:00-04:00', sources: [S]}
"""


def same_study(first: StudyConfig, second: StudyConfig) -> None:
    assert first.settings == second.settings
    assert first.report == second.report
    assert len(first.assets) == len(second.assets)
    for a, b in zip(first.assets, second.assets, strict=True):
        assert (a.ticker, a.name, a.group, a.exchange, a.kind, a.yahoo_symbol, a.model) == (
            b.ticker,
            b.name,
            b.group,
            b.exchange,
            b.kind,
            b.yahoo_symbol,
            b.model,
        )
        assert dict(a.attributes) == dict(b.attributes)


@pytest.mark.parametrize("source", ["fixture", "events.yaml", "newcomer"])
def test_the_explained_settings_give_the_same_study(source: str, tmp_path: Path, repo_root: Path):
    if source == "newcomer":
        path = tmp_path / "newcomer.yaml"
        path.write_text(NEWCOMER, encoding="utf-8")
    else:
        path = FIXTURE if source == "fixture" else repo_root / "events.yaml"
    original = load_config(path)
    explained = yaml.safe_load(explain_study(path))
    events = yaml.safe_load(path.read_text(encoding="utf-8"))["events"]
    rebuilt = tmp_path / "rebuilt" / path.name
    rebuilt.parent.mkdir()
    rebuilt.write_text(yaml.safe_dump({**explained, "events": events}), encoding="utf-8")
    same_study(load_config(rebuilt), original)


def test_defaults_are_marked_and_written_values_are_not(tmp_path: Path):
    path = tmp_path / "newcomer.yaml"
    path.write_text(NEWCOMER, encoding="utf-8")
    lines = explain_study(path).splitlines()
    study = lines[
        lines.index("study:  # default: the whole block") + 1 : lines.index(
            "report:  # default: chosen by the report"
        )
    ]
    assert len(study) == 13 and all("# default" in line for line in study)
    assert "  name: newcomer  # default: the file name" in study
    assert "  event_windows: [[0, 0], [0, 1], [-1, 1], [0, 5]]  # default" in study
    assert "  min_estimation_returns: 120  # default: 120, at most half the estimation window" in (
        study
    )
    nikkei = next(line for line in lines if "ticker: ^N225" in line)
    assert nikkei.endswith(
        "# constant_mean, total reaction; default: name, group, exchange from the ticker"
    )
    tel = next(line for line in lines if "ticker: 8035.T" in line)
    assert "attributes: {sector: Chips}" in tel and tel.endswith(
        "default: group, exchange from the ticker"
    )
    assert "# 2 assets: 2 studied (assets 2), 0 benchmarks (regressors only)" in lines
    assert "# 1 events from 2025-04-02 to 2025-04-02" in lines
    assert "#   1 without a title (default: the id)" in lines


def test_real_file_explains_what_it_leaves_to_default(repo_root: Path):
    lines = explain_study(repo_root / "events.yaml").splitlines()
    assert "  name: tariffs-2025" in lines
    assert "  model: {name: market, benchmark: ^TOPX, lag: 0}" in lines
    assert "  total_reactions: true  # default" in lines
    assert "  group_by: [group]  # default" in lines
    assert "  headline_windows: [[0, 1], [0, 3]]" in lines
    assert "# 20 assets: 16 studied (index 3, chips 13), 4 benchmarks (regressors only)" in lines
    semi = next(line for line in lines if "NIKKEI_SEMI" in line)
    assert "yahoo: null" in semi and semi.endswith("# market(^TOPX), relative reaction")
    assert any(line.startswith("# 46 events from 2025-01-27 to 2025-11-19") for line in lines)


def test_long_asset_lists_are_summarised(tmp_path: Path):
    rows = "\n".join(f"{1000 + i}.T,Firm {i}" for i in range(MAX_LISTED_ASSETS + 5))
    (tmp_path / "firms.csv").write_text("ticker,name\n" + rows + "\n", encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(
        "assets_from: firms.csv\n"
        + NEWCOMER.split("events:")[0]
        .replace("assets:", "assets_from_unused:")
        .split("assets_from_unused:")[0]
        + "events:"
        + NEWCOMER.split("events:")[1]
    )
    lines = explain_study(path).splitlines()
    assert sum(line.startswith("  - {ticker:") for line in lines) == MAX_LISTED_ASSETS
    assert "  # ... and 5 more assets" in lines
    assert f"# listed in: {tmp_path / 'firms.csv'} {MAX_LISTED_ASSETS + 5}" in lines


def test_cli_explain_prints_the_settings_and_exits_0(capsys):
    assert cli.main(["events", "check", str(FIXTURE), "--explain"]) == 0
    out = capsys.readouterr().out
    assert yaml.safe_load(out)["study"]["name"] == "minimal"
    assert "exclusion_window: null  # default" in out


def test_cli_explain_of_a_broken_file_exits_2(tmp_path: Path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("assets: []\n", encoding="utf-8")
    assert cli.main(["events", "check", str(path), "--explain"]) == 2
    assert capsys.readouterr().err.startswith(f"eventstudy: error: {path}: ")


def test_cli_help_documents_explain(capsys):
    assert cli.main(["events", "check", "--help"]) == 0
    assert "--explain" in capsys.readouterr().out


def test_assets_listed_in_the_file_and_the_csv_count_for_both(repo_root: Path):
    path = repo_root / "tests" / "studies" / "parse-assets-from.yaml"
    lines = explain_study(path).splitlines()
    listed = next(line for line in lines if line.startswith("# listed in: "))
    assert listed.endswith(
        "parse-assets-from.yaml 2, " + str(path.parent / "firms-sample.csv") + " 8"
    )
    tel = next(line for line in lines if "ticker: 8035.T" in line)
    assert "name: Tokyo Electron Limited, group: chips" in tel  # name from the CSV, group written
    assert "size_class: Core30, exposure: china" in tel
