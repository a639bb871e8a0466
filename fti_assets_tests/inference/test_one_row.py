"""The single-row path gives the booster's own probabilities, row by row."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fti_assets.serving.one_row import OneRowPredictor

COLUMNS = 6


@pytest.fixture(scope="module")
def boosters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, lgb.Booster]:
    """A model with a categorical column and missing values, trained with early stopping (so it
    has a best iteration below its last), and the same model as the service loads it: from its
    text file."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, COLUMNS))
    x[:, 0] = rng.integers(0, 12, size=4000)  # category codes
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 1]) + (x[:, 0] % 3 == 0) + rng.normal(scale=0.8, size=4000) > 0.5).astype(int)
    train, valid = (
        lgb.Dataset(x[:3000], y[:3000], categorical_feature=[0]),
        lgb.Dataset(x[3000:], y[3000:], categorical_feature=[0]),
    )
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 15, "learning_rate": 0.3, "verbose": -1},
        train,
        num_boost_round=200,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(5, verbose=False)],
        keep_training_booster=True,
    )
    assert 0 < booster.best_iteration < booster.current_iteration()
    path = tmp_path_factory.mktemp("model") / "model.txt"
    booster.save_model(path, num_iteration=-1)  # every tree: the loaded model must not stop early
    return {"trained": booster, "loaded": lgb.Booster(model_file=str(path))}


@pytest.fixture(scope="module")
def predictors(boosters: dict[str, lgb.Booster]) -> dict[str, OneRowPredictor]:
    return {name: OneRowPredictor(booster) for name, booster in boosters.items()}


rows = arrays(
    np.float64, COLUMNS, elements=st.one_of(st.floats(-5, 5), st.just(np.nan), st.integers(0, 20).map(float))
)


@pytest.mark.parametrize("which", ["trained", "loaded"])
@settings(max_examples=300, deadline=None)
@given(row=rows)
def test_one_row_equals_the_boosters_predict(
    boosters: dict[str, lgb.Booster], predictors: dict[str, OneRowPredictor], which: str, row: np.ndarray
) -> None:
    assert predictors[which].predict(row) == boosters[which].predict(row.reshape(1, -1), num_threads=1)[0]


def test_the_trained_model_stops_at_its_best_iteration_as_predict_does(
    boosters: dict[str, lgb.Booster], predictors: dict[str, OneRowPredictor]
) -> None:
    """The two boosters disagree somewhere (one stops early), and each path follows its own."""
    x = np.random.default_rng(5).normal(size=(200, COLUMNS))
    assert not np.array_equal(boosters["trained"].predict(x), boosters["loaded"].predict(x))
    for name, booster in boosters.items():
        assert [predictors[name].predict(r) for r in x] == list(booster.predict(x, num_threads=1))


def test_a_row_of_the_wrong_width_is_refused(predictors: dict[str, OneRowPredictor]) -> None:
    with pytest.raises(ValueError, match="one row of 6 values"):
        predictors["loaded"].predict(np.zeros(COLUMNS - 1))


def test_the_service_scores_one_flight_through_it_and_many_through_the_booster(tmp_path: Path) -> None:
    """``predict`` of the serving code: one row and a batch give the same probabilities."""
    from fti_assets.domain.encoding import FeatureSpec
    from fti_assets.serving.predictor import ServingModel, predict

    rng = np.random.default_rng(8)
    x = rng.normal(size=(500, 3))
    booster = lgb.train(
        {"objective": "binary", "verbose": -1}, lgb.Dataset(x, (x[:, 0] > 0).astype(int)), num_boost_round=20
    )
    spec = FeatureSpec.from_dict({"features": ["a", "b", "c"], "categories": {}})
    model = ServingModel("m:v1", booster, spec)
    flights = [
        {"a": float(r[0]), "b": None if i % 4 == 0 else float(r[1]), "c": float(r[2])}
        for i, r in enumerate(x[:40])
    ]
    together, _ = predict(model, flights)
    alone = [predict(model, [f])[0][0] for f in flights]
    assert alone == list(together)
    assert "one_row" in model.__dict__  # the one-flight calls went through the single-row path
