"""`costguard detect`: input formats, output contract, errors, and the workshop billing data acceptance."""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from costguard.detect.core import DetectorParams
from costguard.detect.replay import replay
from costguard_local import detect_cmd

WORKSHOP = Path(detect_cmd.__file__).parent / "data" / "workshop-cur" / "daily_unblended_cost_by_account_service.csv"


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="costguard detect")
    detect_cmd.add_arguments(parser)
    return detect_cmd.run(parser.parse_args(argv))


def write_simple(path: Path, spike_day: int = 40) -> Path:
    lines = ["date,series,cost"]
    start = date(2024, 5, 6)
    for i in range(60):
        day = (start + timedelta(days=i)).isoformat()
        lines.append(f"{day},acct-1/ec2,{500.0 if i == spike_day else 100.0 + (i % 3):.4f}")
        lines.append(f"{day},acct-1/s3,{10.0 + (i % 2) * 0.5:.4f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_json_lines_name_each_alert_with_rounded_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["--input", str(write_simple(tmp_path / "costs.csv"))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    alert = json.loads(lines[0])
    assert set(alert) == {"series", "date", "kind", "expected", "actual", "impact"}
    assert (alert["series"], alert["date"], alert["kind"], alert["actual"]) == (
        "acct-1/ec2",
        "2024-06-15",
        "spike",
        500.0,
    )
    assert alert["impact"] == round(alert["actual"] - alert["expected"], 2)
    assert all(round(alert[k], 2) == alert[k] for k in ("expected", "actual", "impact"))


def test_table_format_is_aligned_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["--input", str(write_simple(tmp_path / "costs.csv")), "--format", "table"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["date", "series", "kind", "expected", "actual", "impact"]
    assert set(out[1]) <= {"-", " "}
    assert "2024-06-15" in out[2] and "acct-1/ec2" in out[2] and "+" in out[2]
    assert out[-1] == "1 alert(s)"


def test_materiality_flags_reach_the_detector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_simple(tmp_path / "costs.csv")
    assert cli(["--input", str(path), "--min-impact-usd", "1000"]) == 0
    assert capsys.readouterr().out == ""
    assert cli(["--input", str(path), "--min-impact-pct", "500"]) == 0
    assert capsys.readouterr().out == ""


def test_output_is_deterministic_and_in_date_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "costs.csv"
    lines = ["date,series,cost"]
    start = date(2024, 5, 6)
    for i in reversed(range(70)):  # rows in reverse order: the command must not rely on sorting
        for name, spike in (("b", 30), ("a", 50), ("c", 30)):
            lines.append(f"{(start + timedelta(days=i)).isoformat()},{name},{400.0 if i == spike else 50.0}")
    path.write_text("\n".join(lines) + "\n")
    assert cli(["--input", str(path)]) == 0
    first = capsys.readouterr().out
    assert cli(["--input", str(path)]) == 0
    assert capsys.readouterr().out == first
    alerts = [json.loads(line) for line in first.splitlines()]
    assert [(a["date"], a["series"]) for a in alerts] == [("2024-06-05", "b"), ("2024-06-05", "c"), ("2024-06-25", "a")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("day,name,usd\n2024-01-01,a,1\n", ":1: unknown header"),
        ("", ":1: unknown header"),
        ("date,series,cost\n2024-01-01,a,1\n2024-01-02,a,abc\n", ":3: bad cost 'abc'"),
        ("date,series,cost\n2024-01-01,a,1\n2024-13-01,a,1\n", ":3: bad date"),
        ("date,series,cost\n2024-01-01,a\n", ":2: expected 3 fields, got 2"),
        ("date,series,cost\n2024-01-01,,1\n", ":2: empty series name"),
        ("date,usage_account_id,product_code,unblended_cost\n2018-10-01,1,AmazonEC2,nan\n", ":2: bad cost"),
    ],
)
def test_bad_input_names_the_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert cli(["--input", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err and str(path) in captured.err


def test_unreadable_bytes_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "costs.csv"
    path.write_bytes(b"date,series,cost\n2024-01-01,\xff\xfe,1\n")
    assert cli(["--input", str(path)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_spreadsheet_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "costs.csv"
    path.write_bytes("\ufeffdate,series,cost\n2024-01-01,a,1.5\n".encode())
    assert list(detect_cmd.read_rows(path)) == [(date(2024, 1, 1), "a", 1.5)]


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["--input", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_billing_export_is_summed_per_service_or_per_account_and_service(tmp_path: Path) -> None:
    path = tmp_path / "cur.csv"
    path.write_text(
        "date,usage_account_id,product_code,unblended_cost\n"
        "2018-10-01,111,AmazonEC2,1.5\n"
        "2018-10-01,222,AmazonEC2,2.0\n"
        "2018-10-01,111,AWSGlue,4.0\n"
    )
    by_service = sorted(detect_cmd.read_rows(path))
    assert by_service == [(date(2018, 10, 1), "AWSGlue", 4.0), (date(2018, 10, 1), "AmazonEC2", 3.5)]
    by_account = sorted(detect_cmd.read_rows(path, series_by="account-service"))
    assert [r[1] for r in by_account] == ["111/AWSGlue", "111/AmazonEC2", "222/AmazonEC2"]


def test_workshop_billing_data_acceptance() -> None:
    """The real export: Glue doubles on 2018-10-10; EC2 carries an RI fee on each 1st; 92 days, 2 accounts."""
    alerts = [e for e in replay(detect_cmd.read_rows(WORKSHOP), DetectorParams()) if e.action == "open"]
    glue = [a for a in alerts if a.series == "AWSGlue"]
    assert any(abs((a.day - date(2018, 10, 10)).days) <= 1 for a in glue)
    assert not any(a.series == "AmazonEC2" and a.day == date(2018, 12, 1) for a in alerts)
    assert len(alerts) <= 4


def test_workshop_fee_is_in_the_data_so_the_acceptance_means_something() -> None:
    rows = [r for r in detect_cmd.read_rows(WORKSHOP) if r[1] == "AmazonEC2"]
    by_day = {d: c for d, _, c in rows}
    assert by_day[date(2018, 12, 1)] > 10 * by_day[date(2018, 11, 30)]
