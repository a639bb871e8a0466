"""The retraining rule: one set of thresholds, read by the sensors, the assets and the pure rules."""

import dagster as dg


class RetrainingRule(dg.ConfigurableResource):
    """Retrain when recent AUC falls below the champion's test AUC by ``auc_margin``, or when
    the feature drift report alarms on ``drift_days`` consecutive days; both
    wait out ``cooldown_days`` after a retrain. A collapse (the AUC of the last
    ``collapse_days`` below ``collapse_auc``, or below the test AUC by ``collapse_drop``)
    acts at once, on evidence gathered after the last retrain."""

    auc_margin: float = 0.03
    min_window_rows: int = 2000
    drift_share: float = 0.5
    """The drift reports alarm on a day when more than this share of the features drifted."""
    drift_days: int = 3
    """Retrain when the feature drift report alarms on this many consecutive days."""
    cooldown_days: int = 14
    collapse_days: int = 3
    """A collapse is judged on the served AUC of this many days, all after the last retrain."""
    collapse_auc: float = 0.5
    """Below this AUC over `collapse_days` (chance), retrain at once (no cool-down)."""
    collapse_drop: float = 0.2
    """Or below the champion's test AUC by more than this."""
    collapse_min_rows: int = 1500
    holdout_days: int = 14
    """A retrain tests on the last ``holdout_days`` and validates on as many days before."""
    canary_min_rows: int = 1000
    canary_auc_margin: float = 0.01
    rollback_min_rows: int = 1000
    """The automatic rollback needs this many labelled flights scored by both champions."""
    rollback_auc_margin: float = 0.01
    """A promoted champion is rolled back when its live AUC trails the previous one's by more."""
