"""`eventstudy run` writes the same numbers as the Python API, byte-stable across runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import eventstudy as es
from eventstudy.cli import main

KEEP = ("liberation-day-reciprocal-tariffs", "reciprocal-90day-pause", "round8-deal-15pct-550bn")


@pytest.fixture(scope="module")
def small_study(tmp_path_factory, repo_root):
    document = yaml.safe_load((repo_root / "events.yaml").read_text(encoding="utf-8"))
    document["events"] = [e for e in document["events"] if e["id"] in KEEP]
    path = tmp_path_factory.mktemp("study") / "events.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def test_cli_tables_equal_api_results_and_are_byte_stable(small_study, snapshot_dir, tmp_path, capsys):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        code = main(["run", str(small_study), "--snapshot", str(snapshot_dir), "--out", str(out),
                     "--tables-only", "--no-volatility"])
        assert code == 0
    printed = capsys.readouterr().out
    assert "3 events" in printed and "wrote" in printed
    for name in ("car", "tests", "models", "abnormal_returns", "event_sessions", "joint", "joint_clusters"):
        assert (outs[0] / "tables" / f"{name}.csv").read_bytes() == (outs[1] / "tables" / f"{name}.csv").read_bytes()
        assert (outs[0] / "tables" / f"{name}.parquet").exists()
    api = es.Study(small_study, snapshot=snapshot_dir).run(volatility=False)
    cli_car = pd.read_csv(outs[0] / "tables" / "car.csv")
    pd.testing.assert_series_equal(cli_car["car"], api.car["car"].reset_index(drop=True), rtol=1e-9,
                                   check_names=False)
    cli_tests = pd.read_parquet(outs[0] / "tables" / "tests.parquet")
    assert len(cli_tests) == len(api.tests)
    assert (outs[0] / "run.json").exists()


def test_tables_only_run_imports_no_figure_or_model_library(small_study, snapshot_dir, tmp_path, repo_root):
    """A tables-only run never needs scipy.stats, matplotlib, seaborn, statsmodels or arch; and
    pyarrow's own pool (mimalloc) never starts, so no 1 GiB address-space reservation is mapped
    (on Linux, where /proc lists the mappings)."""
    import subprocess
    import sys

    heavy = ("scipy.stats", "matplotlib", "seaborn", "statsmodels", "arch")
    code = ("import os, sys; from eventstudy.cli import main; "
            f"code = main(['run', {str(small_study)!r}, '--snapshot', {str(snapshot_dir)!r}, "
            f"'--out', {str(tmp_path / 'o')!r}, '--tables-only', '--no-volatility']); "
            f"print(code, [m for m in {heavy!r} if m in sys.modules]); "
            "import pyarrow as pa; maps = '/proc/self/maps'; "
            "sizes = [int(b, 16) - int(a, 16) for a, b in (line.split()[0].split('-') for line in "
            "open(maps))] if os.path.exists(maps) else [0]; "
            "print(pa.default_memory_pool().backend_name, max(sizes) >= 2**30)")
    env = {k: v for k, v in __import__("os").environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=repo_root, env=env)
    assert done.stdout.splitlines()[-2:] == ["0 []", "system False"]


def test_missing_snapshot_is_one_line_exit_2(small_study, tmp_path, capsys):
    code = main(["run", str(small_study), "--snapshot", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"),
                 "--tables-only"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "nowhere" in err


def test_run_offline_without_a_snapshot_exits_2_with_one_line_and_the_remedy(
    small_study, tmp_path, monkeypatch, capsys
):
    """`make report SNAPSHOT=` offline: Yahoo cannot be reached (faked at the HTTP session)."""
    import curl_cffi.requests
    import yfinance
    from curl_cffi.requests.exceptions import DNSError

    from eventstudy import data

    def offline(session, method, url, *args, **kwargs):
        raise DNSError("Failed to perform, curl: (6) Could not resolve host: fc.yahoo.com")

    monkeypatch.setattr(curl_cffi.requests.Session, "request", offline)
    monkeypatch.setattr(data.time, "sleep", lambda seconds: None)
    yfinance.set_tz_cache_location(str(tmp_path / "yfinance-cache"))
    monkeypatch.setenv("EVENTSTUDY_SNAPSHOT", "")
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path / "cache"))
    for extra in ([], ["--no-volatility"]):
        code = main(["run", str(small_study), "--out", str(tmp_path / "o"), "--tables-only", *extra])
        captured = capsys.readouterr()
        assert code == 2 and captured.out == ""
        assert captured.err.count("\n") == 1
        assert "Yahoo Finance cannot be reached (curl: (6) Could not resolve host" in captured.err
        assert "--snapshot DIR" in captured.err and "delisted" not in captured.err
    assert not (tmp_path / "o" / "tables").exists()


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="glibc mallopt")
def test_a_run_keeps_freed_memory_for_its_later_stages():
    """glibc accepts every setting (mallopt returns 1 for each); the tables are the same
    either way (test_cli_tables_equal_api_results_and_are_byte_stable runs with them)."""
    import ctypes

    from eventstudy import runner

    if not hasattr(ctypes.CDLL(None), "mallopt"):
        pytest.skip("a C library without mallopt (e.g. musl)")
    assert runner.MALLOC_RETAINED[-3] == 32 << 20  # glibc's largest mmap threshold
    assert runner._reuse_freed_memory() is True


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="/proc/self/status")
def test_a_command_line_run_never_starts_pyarrows_own_pool():
    """In a fresh process the system allocator is pyarrow's default before pyarrow starts, so
    mimalloc never reserves its 1 GiB of address space (it would count against ``ulimit -v``)."""
    import subprocess
    import sys

    code = (
        "import io, os, re\n"
        "def vm(): return int(re.search(r'VmSize:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "from eventstudy import runner\n"
        "runner._system_arrow_memory()\n"
        "import pandas as pd, pyarrow as pa, pyarrow.parquet as pq\n"
        "before = vm()\n"
        "pq.write_table(pa.table({'a': list(range(100_000)), 's': ['x'] * 100_000}), io.BytesIO())\n"
        "pd.Series(['a', 'b']).astype('string[pyarrow]')\n"
        "print(pa.default_memory_pool().backend_name, (vm() - before) // 1024)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    backend, grown_mib = out.stdout.split()
    assert backend == "system" and int(grown_mib) < 256, out.stdout


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="/proc/self/status")
def test_the_stage_peak_is_the_kernels_high_water_mark_in_gb():
    """``--verbose`` prints the peak in GB of 10^9 bytes: ``ru_maxrss`` is KiB on Linux."""
    from eventstudy import runner

    text = Path("/proc/self/status").read_text()
    status = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    hwm_gb = int(status["VmHWM"].split()[0]) * 1024 / 1e9
    assert runner._peak_memory_gb() == pytest.approx(hwm_gb, rel=0.02)


def test_a_run_keeps_the_returns_over_the_event_period_only_when_nothing_reads_the_rest(small_study, snapshot_dir):
    """Tables only, no volatility, no attributes: the event period; any of the three: the whole
    grid. Study.run refuses ret='event' with the volatility stage."""
    from dataclasses import replace

    from eventstudy import runner
    from eventstudy.events import load_config

    config = load_config(small_study)
    plain = replace(config, settings=replace(config.settings, volatility=False))
    assert runner._returns_kept(plain, None, tables_only=True) == "event"
    assert runner._returns_kept(plain, None, tables_only=False) == "all"
    assert runner._returns_kept(plain, True, tables_only=True) == "all"
    with_volatility = replace(config, settings=replace(config.settings, volatility=True))
    assert runner._returns_kept(with_volatility, None, tables_only=True) == "all"
    assert runner._returns_kept(with_volatility, False, tables_only=True) == "event"
    studied = plain.studied_assets[0]
    sectors = replace(plain, assets=tuple(replace(a, attributes={"sector": "x"}) if a is studied else a
                                          for a in plain.assets))
    assert runner._returns_kept(sectors, None, tables_only=True) == "all"
    with pytest.raises(ValueError, match="ret='event' leaves out the estimation-window returns"):
        es.Study(small_study, snapshot=snapshot_dir).run(volatility=True, ret="event")


@pytest.mark.parametrize(("option", "value"), [("expected", "estimation"), ("ret", "Event"), ("ret", None)])
def test_a_wrong_series_option_is_refused_before_any_price_is_read(small_study, tmp_path, option, value):
    """The snapshot folder does not exist: a late check would fail on it first."""
    with pytest.raises(ValueError, match=f"^{option} must be 'all' or 'event', got {value!r}$"):
        es.Study(small_study, snapshot=tmp_path / "nowhere").run(volatility=False, **{option: value})
