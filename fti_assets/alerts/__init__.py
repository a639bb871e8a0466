"""Alerts: tell people when something needs them.

``rules.py`` turns a finished run (its failure, checks and materializations, and the monitoring
tables for the days it wrote) into alerts; ``message.py`` writes one alert as a Slack-compatible
webhook body and as an e-mail; ``delivery.py`` sends them with retries; ``sensors.py`` holds the
two Dagster run-status sensors that do all this once per run and once per alarm.
"""
