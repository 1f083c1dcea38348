"""Verification: WeatherBench2-exact metrics, regions, climatology, scoring."""
