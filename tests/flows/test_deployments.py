"""The served deployments: names, schedules, parameters."""

from __future__ import annotations

from flows import deployments


def test_daily_and_reaper_deployments_with_their_crons():
    by_name = {(d.flow_name, d.name): d for d in deployments.build_deployments()}
    daily_deployment = by_name[("daily-forecast", "daily")]
    assert daily_deployment.parameters == {"triggered_by": "schedule"}
    crons = {key: [s.schedule.cron for s in d.schedules] for key, d in by_name.items()}
    assert crons[("daily-forecast", "daily")] == [deployments.DAILY_CRON]
    assert crons[("reap-stale-runs", "reaper")] == [deployments.REAPER_CRON]


def test_open_data_poll_and_both_verification_tiers_are_served():
    by_name = {(d.flow_name, d.name): d for d in deployments.build_deployments()}
    crons = {key: [s.schedule.cron for s in d.schedules] for key, d in by_name.items()}
    assert crons[("opendata-poll", "opendata-poll")] == [deployments.OPENDATA_POLL_CRON]
    assert by_name[("verify", "daily")].parameters == {"truth_source": "era5"}
    assert by_name[("verify", "ifs-analysis")].parameters == {"truth_source": "ifs_analysis"}
    assert crons[("verify", "ifs-analysis")] == [deployments.VERIFY_ANALYSIS_CRON]
