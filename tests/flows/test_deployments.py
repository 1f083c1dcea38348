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
