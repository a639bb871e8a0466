"""The service's request and response bodies, and what its OpenAPI document says about them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

MAX_FLIGHTS = 1000
#: Scheduled times outside these years are typing errors, and at the edges of Python's
#: calendar they cannot even be converted to UTC.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
#: The longest scheduled flight is under 20 hours: an arrival a day after departure is an error.
MAX_DURATION = timedelta(days=1)

#: The README's flight: the example Swagger's "Try it out" sends.
EXAMPLE_FLIGHT = {
    "carrier": "UA",
    "flight": 1545,
    "tailnum": "N14228",
    "origin": "EWR",
    "dest": "IAH",
    "scheduled_departure": "2014-01-02T05:15:00-05:00",
    "scheduled_arrival": "2014-01-02T08:19:00-06:00",
    "distance": 1400,
}

SERVICE_DESCRIPTION = """\
Probability that a scheduled flight from New York (JFK, LGA, EWR) arrives more than 15 minutes
late, scored by the champion model of fti-assets with the online store's features.

`POST /predict` takes `flights` (1 to 1000 scheduled flights, times in ISO 8601 with a UTC
offset) and answers, per flight, `delay_probability`, the `model_version` that scored it,
`features_as_of` (the instant its features were read as of: its prediction time, two hours
before departure, as in training; the request's time for a flight asked for earlier, flagged
`early`) and `unknown` (feature groups that had no value then and took their documented
defaults).
`include_features: true` adds the vector used; `explain: true` adds each flight's top five
feature contributions (LightGBM TreeSHAP, in log-odds, on the vector that was scored) with
the bias and the raw score they sum to.
A malformed request gets a 400 naming the field and the reason.
"""


class FlightRequest(BaseModel):
    """A scheduled flight, as known two hours before departure."""

    model_config = ConfigDict(extra="forbid")

    carrier: str = Field(pattern=r"^[A-Z0-9]{2}$", examples=["UA"])
    flight: int = Field(ge=1, le=9999, examples=[1545])
    tailnum: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,7}$", examples=["N14228"])
    origin: str = Field(
        pattern=r"^[A-Z0-9]{3,4}$", examples=["EWR"], description="An FAA code of the airports table."
    )
    dest: str = Field(
        pattern=r"^[A-Z0-9]{3,4}$",
        examples=["IAH"],
        description="An FAA code of the airports table, not the origin.",
    )
    scheduled_departure: datetime = Field(examples=[EXAMPLE_FLIGHT["scheduled_departure"]])
    scheduled_arrival: datetime = Field(
        examples=[EXAMPLE_FLIGHT["scheduled_arrival"]], description="After the departure, by at most a day."
    )
    distance: float = Field(
        gt=0,
        le=10_000,
        examples=[1400],
        description="Miles, within 15 miles plus 2% of the great-circle distance between the airports.",
    )

    # JSON numbers and strings only: pydantic would otherwise read "1400" and true as
    # numbers, and 0 as a timestamp (1970-01-01 UTC).
    @field_validator("flight", "distance", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a JSON number")
        return value

    @field_validator("scheduled_departure", "scheduled_arrival", mode="before")
    @classmethod
    def _a_string(cls, value: Any) -> Any:
        if not isinstance(value, str | datetime):
            raise ValueError(
                "must be an ISO 8601 string with a UTC offset, such as 2013-06-01T05:15:00-04:00"
            )
        return value

    @field_validator("scheduled_departure", "scheduled_arrival")
    @classmethod
    def _needs_offset(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must be ISO 8601 with a UTC offset, such as 2013-06-01T05:15:00-04:00")
        try:
            utc = value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("is out of range once converted to UTC") from None
        if not EARLIEST <= utc < LATEST:
            raise ValueError(f"must fall between {EARLIEST.year} and {LATEST.year - 1}")
        departure = info.data.get("scheduled_departure")
        if info.field_name == "scheduled_arrival" and departure is not None:
            if utc <= departure:
                raise ValueError("must be after scheduled_departure")
            if utc - departure > MAX_DURATION:
                raise ValueError("must be at most a day after scheduled_departure")
        return value


class Contribution(BaseModel):
    feature: str
    contribution: float = Field(
        description="The feature's TreeSHAP contribution to the raw score (log-odds)."
    )


class Explanation(BaseModel):
    """Why the model gave this probability: the largest contributions to its raw score."""

    raw_score: float = Field(
        description="The model's log-odds for the flight: base_value plus every feature's contribution."
    )
    base_value: float = Field(
        description="The raw score before any feature (the bias, the same for every flight)."
    )
    top: list[Contribution] = Field(
        description="The five features with the largest absolute contributions, largest first."
    )


class FlightPrediction(BaseModel):
    flight_id: str
    delay_probability: float
    model_version: str
    features_as_of: str | None = Field(
        default=None,
        description="The instant the features were read as of: the prediction time, or the request's "
        "time for an `early` flight.",
    )
    unknown: list[str] = Field(
        default_factory=list,
        description="Feature groups with no row for this flight: documented defaults were used.",
    )
    past_flight: bool = Field(
        default=False,
        description="The flight's prediction time (two hours before departure) is earlier than the history "
        "the online store still holds: its features may not be exactly what was known then.",
    )
    early: bool = Field(
        default=False,
        description="Asked for before its prediction time: scored with features as of the request "
        "(`features_as_of`), not of the prediction time; counted apart from the parity figures.",
    )
    features: dict[str, float | str | None] | None = None
    explanation: Explanation | None = Field(
        default=None,
        description="With `explain: true`: the top contributions of the model that served the flight.",
    )


class Problem(BaseModel):
    field: str = Field(
        description="The field at fault, such as flights[0].distance; `body` for the body as a whole."
    )
    reason: str


class ErrorBody(BaseModel):
    """Every 4xx and 503 answer of the service."""

    errors: list[Problem] = Field(min_length=1)


class PredictRequest(BaseModel):
    """The body of ``POST /predict``, checked whole before the service parses it, with the
    README's flight as example."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"flights": [EXAMPLE_FLIGHT], "include_features": False, "explain": False}
        },
    )

    flights: list[FlightRequest] = Field(
        min_length=1, max_length=MAX_FLIGHTS, description=f"1 to {MAX_FLIGHTS} scheduled flights."
    )
    include_features: bool = Field(
        default=False, strict=True, description="Also return the feature vector used for each flight."
    )
    explain: bool = Field(
        default=False,
        strict=True,
        description="Also return each flight's top feature contributions (TreeSHAP).",
    )
