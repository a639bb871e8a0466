"""Per-prediction explanations: LightGBM TreeSHAP on the very vector that was scored."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from fti_assets_tests.inference.served import flight_request
from fti_assets_tests.service_process import ServiceProcess


def test_contributions_sum_to_the_raw_score_of_the_served_vector(fitted) -> None:
    from fti_assets.serving.predictor import ServingModel, predict, top_contributions

    trained, test = fitted
    model = ServingModel("v1", trained.booster, trained.spec)
    rows = test.select(trained.spec.features).head(300).to_dicts()
    p, contributions = predict(model, rows, explain=True)
    raw = trained.booster.predict(trained.spec.encode_rows(rows, model.codes), raw_score=True)
    assert contributions.shape == (len(rows), len(trained.spec.features) + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), raw, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(1 / (1 + np.exp(-raw)), p, rtol=1e-9)
    assert np.unique(contributions[:, -1]).size == 1  # the bias is the same for every flight
    assert predict(model, rows)[1] is None  # no explanation unless asked: no TreeSHAP cost

    top = top_contributions(contributions[0], trained.spec.features)
    assert top["raw_score"] == pytest.approx(raw[0]) and top["base_value"] == contributions[0, -1]
    sizes = [abs(c["contribution"]) for c in top["top"]]
    assert (
        len(sizes) == 5
        and sizes == sorted(sizes, reverse=True)
        and sizes[0] == np.abs(contributions[0, :-1]).max()
    )


def test_batch_scoring_stores_explanations_only_on_request(fitted) -> None:
    from fti_assets.inference.batch_predictions import predict_frame

    trained, test = fitted
    plain = predict_frame(test, trained.booster, trained.spec)
    explained = predict_frame(test, trained.booster, trained.spec, explain=True)
    assert "explanation" not in plain.columns
    assert explained["delay_probability"].to_list() == plain["delay_probability"].to_list()
    raw = explained["raw_score"].to_numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-raw)), explained["delay_probability"].to_numpy(), rtol=1e-9)
    first = explained["explanation"][0].to_list()
    assert len(first) == 5 and {c["feature"] for c in first} <= set(trained.spec.features)


def test_explain_on_predict_returns_the_top_contributions_of_the_served_probability(
    service: ServiceProcess,
) -> None:
    flights = [flight_request(), flight_request(tailnum="NOPLANE")]
    plain = httpx.post(f"{service.url}/predict", json={"flights": flights}, timeout=30)
    assert plain.status_code == 200 and all(f["explanation"] is None for f in plain.json())
    answer = httpx.post(f"{service.url}/predict", json={"flights": flights, "explain": True}, timeout=30)
    assert answer.status_code == 200, answer.text
    for flight, before in zip(answer.json(), plain.json(), strict=True):
        explanation = flight["explanation"]
        assert flight["delay_probability"] == before["delay_probability"]
        assert 1 / (1 + np.exp(-explanation["raw_score"])) == pytest.approx(
            flight["delay_probability"], rel=1e-9
        )
        assert len(explanation["top"]) == 5
    refused = httpx.post(f"{service.url}/predict", json={"flights": flights, "explain": "yes"}, timeout=30)
    assert refused.status_code == 400 and "explain" in refused.text
