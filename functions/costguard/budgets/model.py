"""One typed model for every cost notification costguard receives, parsed at the edge (pure: no AWS, no clock).

Sources:
- AWS Budgets, through SNS: plain text ("AWS Budget Notification <date>" ... "Budget Name: ..." lines).
- CloudWatch billing alarms (namespace AWS/Billing, EstimatedCharges), through SNS: the alarm's JSON.
- Cost Anomaly Detection, through SNS (JSON, `dimensionalValue`) or EventBridge (`aws.ce` / "Anomaly Detected",
  the same fields in `detail`, `dimensionValue`).

Anything else, or one of these with parts missing, becomes `Unparsed`: it is still posted (raw, marked as such),
never dropped. `delivery_id` (SNS MessageId, EventBridge id) is what redeliveries share: the idempotency key.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SnsModel, SnsNotificationModel
from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, RootModel, ValidationError

RAW_LIMIT = 20_000  # what an unparsed notice keeps of the message; Slack shows less
BILLING_NAMESPACE = "AWS/Billing"
ANOMALY_SOURCE = "aws.ce"
ANOMALY_DETAIL_TYPE = "Anomaly Detected"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")


# --- AWS Budgets -------------------------------------------------------------------------------------------


class BudgetAlert(_Model):
    """An AWS Budgets notification. Amounts are in the budget's unit (USD for cost budgets)."""

    kind: Literal["budget"] = "budget"
    budget_name: str
    budget_type: str  # "Cost", "Usage", ...
    alert_type: Literal["ACTUAL", "FORECASTED"]
    budgeted_amount: float
    threshold: float  # absolute, even when the notification was declared as a percentage
    amount: float  # the ACTUAL or FORECASTED amount AWS reports
    unit: str = "USD"
    period: Literal["day", "month", "quarter", "year"] | None = None
    account_id: str | None = None
    notified_on: date | None = None

    @property
    def pct_of_budget(self) -> float | None:
        return 100.0 * self.amount / self.budgeted_amount if self.budgeted_amount > 0 else None

    @property
    def threshold_pct(self) -> float | None:
        return 100.0 * self.threshold / self.budgeted_amount if self.budgeted_amount > 0 else None


# --- CloudWatch billing alarms -----------------------------------------------------------------------------


class AlarmDimension(_Model):
    name: str
    value: str


class AlarmTrigger(_Model):
    metric_name: str = Field(validation_alias=AliasChoices("MetricName", "metric_name"))
    namespace: str = Field(validation_alias=AliasChoices("Namespace", "namespace"))
    threshold: float = Field(validation_alias=AliasChoices("Threshold", "threshold"))
    comparison_operator: str = Field(
        "GreaterThanOrEqualToThreshold", validation_alias=AliasChoices("ComparisonOperator", "comparison_operator")
    )
    dimensions: list[AlarmDimension] = Field(
        default_factory=list, validation_alias=AliasChoices("Dimensions", "dimensions")
    )


_DATAPOINT_RE = re.compile(r"\[(?P<value>-?\d+(?:\.\d+)?)(?:\s*\(|\])")


class BillingAlarm(_Model):
    """A CloudWatch alarm on AWS/Billing (EstimatedCharges: the month's estimated charges so far)."""

    kind: Literal["billing_alarm"] = "billing_alarm"
    alarm_name: str = Field(validation_alias=AliasChoices("AlarmName", "alarm_name"))
    description: str | None = Field(None, validation_alias=AliasChoices("AlarmDescription", "description"))
    account_id: str | None = Field(None, validation_alias=AliasChoices("AWSAccountId", "account_id"))
    new_state: Literal["ALARM", "OK", "INSUFFICIENT_DATA"] = Field(
        validation_alias=AliasChoices("NewStateValue", "new_state")
    )
    old_state: str | None = Field(None, validation_alias=AliasChoices("OldStateValue", "old_state"))
    reason: str = Field("", validation_alias=AliasChoices("NewStateReason", "reason"))
    state_change_time: str | None = Field(None, validation_alias=AliasChoices("StateChangeTime", "state_change_time"))
    region: str | None = Field(None, validation_alias=AliasChoices("Region", "region"))
    trigger: AlarmTrigger = Field(validation_alias=AliasChoices("Trigger", "trigger"))

    @property
    def currency(self) -> str:
        return next((d.value for d in self.trigger.dimensions if d.name == "Currency"), "USD")

    @property
    def observed(self) -> float | None:
        """The datapoint that crossed the threshold, as CloudWatch quotes it in the reason."""
        match = _DATAPOINT_RE.search(self.reason)
        return float(match["value"]) if match else None


# --- Cost Anomaly Detection --------------------------------------------------------------------------------


class AnomalyImpact(_Model):
    max_impact: float = Field(validation_alias=AliasChoices("maxImpact", "max_impact"))
    total_impact: float = Field(validation_alias=AliasChoices("totalImpact", "total_impact"))
    total_actual_spend: float | None = Field(
        None, validation_alias=AliasChoices("totalActualSpend", "total_actual_spend")
    )
    total_expected_spend: float | None = Field(
        None, validation_alias=AliasChoices("totalExpectedSpend", "total_expected_spend")
    )
    total_impact_percentage: float | None = Field(
        None, validation_alias=AliasChoices("totalImpactPercentage", "total_impact_percentage")
    )


class RootCause(_Model):
    service: str | None = None
    region: str | None = None
    linked_account: str | None = Field(None, validation_alias=AliasChoices("linkedAccount", "linked_account"))
    linked_account_name: str | None = Field(
        None, validation_alias=AliasChoices("linkedAccountName", "linked_account_name")
    )
    usage_type: str | None = Field(None, validation_alias=AliasChoices("usageType", "usage_type"))


class CostAnomaly(_Model):
    kind: Literal["anomaly"] = "anomaly"
    anomaly_id: str = Field(validation_alias=AliasChoices("anomalyId", "anomaly_id"))
    account_id: str | None = Field(None, validation_alias=AliasChoices("accountId", "account_id"))
    account_name: str | None = Field(None, validation_alias=AliasChoices("accountName", "account_name"))
    monitor_name: str | None = Field(None, validation_alias=AliasChoices("monitorName", "monitor_name"))
    monitor_arn: str | None = Field(None, validation_alias=AliasChoices("monitorArn", "monitor_arn"))
    # SNS says dimensionalValue, EventBridge says dimensionValue.
    dimension_value: str | None = Field(
        None, validation_alias=AliasChoices("dimensionalValue", "dimensionValue", "dimension_value")
    )
    start: datetime | None = Field(None, validation_alias=AliasChoices("anomalyStartDate", "start"))
    end: datetime | None = Field(None, validation_alias=AliasChoices("anomalyEndDate", "end"))
    impact: AnomalyImpact
    root_causes: list[RootCause] = Field(
        default_factory=list, validation_alias=AliasChoices("rootCauses", "root_causes")
    )
    details_link: str | None = Field(None, validation_alias=AliasChoices("anomalyDetailsLink", "details_link"))

    @property
    def subject(self) -> str:
        """What the anomaly is about: the monitored dimension value, else the first root cause's service."""
        return self.dimension_value or next((c.service for c in self.root_causes if c.service), None) or "AWS"


# --- anything else ---------------------------------------------------------------------------------------


class Unparsed(_Model):
    kind: Literal["unparsed"] = "unparsed"
    reason: str
    raw: str


Detail = Annotated[BudgetAlert | BillingAlarm | CostAnomaly | Unparsed, Field(discriminator="kind")]


class CostNotice(_Model):
    """One delivery of one notification: what it says (`detail`) and when and how it arrived."""

    delivery_id: str  # SNS MessageId / EventBridge id: what a redelivery repeats
    via: Literal["sns", "eventbridge"]
    received_at: AwareDatetime  # SNS Timestamp / event time: the `now` of everything downstream
    subject: str | None = None
    source_arn: str | None = None  # the topic, or the anomaly monitor
    detail: Detail


class BudgetAlertsEvent(RootModel[SnsModel | EventBridgeModel]):
    """What invokes the function: an SNS delivery (the topic) or an EventBridge event (the anomaly rule)."""


# --- parsing ---------------------------------------------------------------------------------------------

_BUDGET_HEADER_RE = re.compile(r"AWS Budget Notification\s+(?P<date>[A-Z][a-z]+ \d{1,2}, \d{4})?")
_BUDGET_ACCOUNT_RE = re.compile(r"^AWS Account\s+(?P<account>\S+)\s*$", re.MULTILINE)
_BUDGET_FIELD_RE = re.compile(
    r"^(?P<key>Budget Name|Budget Type|Budgeted Amount|Alert Type|Alert Threshold|ACTUAL Amount|FORECASTED Amount)"
    r":[ \t]*(?P<value>.*?)\s*$",
    re.MULTILINE,
)
_BUDGET_PERIOD_RE = re.compile(r"(?P<per>for the current (?P<unit>month|quarter|year)|per day)")
_AMOUNT_RE = re.compile(r"^(?P<cur>\$)?\s*(?P<number>-?[\d,]*\.?\d+)\s*(?P<unit>%|[A-Za-z][\w-]*)?$")


class _NotThis(ValueError):
    """The message is not of this source; the reason says what was missing."""


def _amount(text: str, key: str) -> tuple[float, str]:
    """ "$1,234.50" -> (1234.5, "USD"); "80.00%" -> (80.0, "%"); "100.00 Hrs" -> (100.0, "Hrs")."""
    match = _AMOUNT_RE.match(text.strip().lstrip(">").lstrip("<").lstrip("=").strip())
    if not match:
        raise _NotThis(f"'{key}' is not an amount ({text[:40]!r})")
    unit = "USD" if match["cur"] else (match["unit"] or "USD")
    return float(match["number"].replace(",", "")), unit


def parse_budget_text(message: str) -> BudgetAlert:
    header = _BUDGET_HEADER_RE.search(message)
    if not header:
        raise _NotThis("no 'AWS Budget Notification' header")
    fields = {m["key"]: m["value"] for m in _BUDGET_FIELD_RE.finditer(message)}
    alert_type = fields.get("Alert Type", "").upper()
    amount_key = f"{alert_type} Amount" if alert_type else "ACTUAL or FORECASTED Amount"
    required = ["Budget Name", "Budgeted Amount", "Alert Type", "Alert Threshold", amount_key]
    missing = [k for k in required if not fields.get(k)]
    if missing:
        raise _NotThis("AWS Budgets notification without " + ", ".join(repr(k) for k in missing))
    if alert_type not in ("ACTUAL", "FORECASTED"):
        raise _NotThis(f"unknown budget alert type {alert_type!r}")
    budgeted, unit = _amount(fields["Budgeted Amount"], "Budgeted Amount")
    amount, _ = _amount(fields[f"{alert_type} Amount"], f"{alert_type} Amount")
    threshold, threshold_unit = _amount(fields["Alert Threshold"], "Alert Threshold")
    if threshold_unit == "%":
        threshold = budgeted * threshold / 100.0
    account = _BUDGET_ACCOUNT_RE.search(message)
    notified_on = None
    if header["date"]:
        try:
            notified_on = datetime.strptime(header["date"], "%B %d, %Y").date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            notified_on = None
    return BudgetAlert(
        budget_name=fields["Budget Name"],
        budget_type=fields.get("Budget Type") or "Cost",
        alert_type="ACTUAL" if alert_type == "ACTUAL" else "FORECASTED",
        budgeted_amount=budgeted,
        threshold=threshold,
        amount=amount,
        unit=unit,
        period=_period(message),
        account_id=account["account"] if account and account["account"].isdigit() else None,
        notified_on=notified_on,
    )


def _period(message: str) -> Literal["day", "month", "quarter", "year"] | None:
    match = _BUDGET_PERIOD_RE.search(message)
    if not match:
        return None
    if match["per"] == "per day":
        return "day"
    return "month" if match["unit"] == "month" else "quarter" if match["unit"] == "quarter" else "year"


def _alarm(data: dict[str, Any]) -> BillingAlarm:
    try:
        alarm = BillingAlarm.model_validate(data)
    except ValidationError as e:
        raise _NotThis(f"CloudWatch alarm message with missing or invalid fields ({_errors(e)})") from None
    if alarm.trigger.namespace != BILLING_NAMESPACE:
        raise _NotThis(f"CloudWatch alarm outside {BILLING_NAMESPACE} (namespace {alarm.trigger.namespace!r})")
    return alarm


def _anomaly(data: dict[str, Any]) -> CostAnomaly:
    try:
        return CostAnomaly.model_validate(data)
    except ValidationError as e:
        raise _NotThis(f"Cost Anomaly Detection message with missing or invalid fields ({_errors(e)})") from None


def _errors(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in error.errors()[:3])


def parse_message(message: str) -> BudgetAlert | BillingAlarm | CostAnomaly | Unparsed:
    """The SNS Message of any source; what cannot be read becomes Unparsed with the reason."""
    try:
        stripped = message.lstrip()
        if stripped.startswith(("{", "[")):
            try:
                data = json.loads(message)
            except json.JSONDecodeError as e:
                raise _NotThis(f"JSON that does not parse ({e.msg} at {e.pos})") from None
            if not isinstance(data, dict):
                raise _NotThis("JSON that is not an object")
            if "AlarmName" in data:
                return _alarm(data)
            if "anomalyId" in data:
                return _anomaly(data)
            raise _NotThis("JSON that is neither a CloudWatch alarm nor a cost anomaly")
        if "AWS Budget Notification" in message:
            return parse_budget_text(message)
        raise _NotThis("not an AWS Budgets, billing alarm or cost anomaly notification")
    except _NotThis as e:
        return Unparsed(reason=str(e), raw=message[:RAW_LIMIT])


def notice_from_sns(sns: SnsNotificationModel) -> CostNotice:
    message = sns.Message if isinstance(sns.Message, str) else json.dumps(sns.Message)
    return CostNotice(
        delivery_id=sns.MessageId,
        via="sns",
        received_at=sns.Timestamp,
        subject=sns.Subject,
        source_arn=sns.TopicArn,
        detail=parse_message(message),
    )


def notice_from_eventbridge(event: EventBridgeModel) -> CostNotice:
    detail: BudgetAlert | BillingAlarm | CostAnomaly | Unparsed
    raw = json.dumps(event.detail, default=str, sort_keys=True)[:RAW_LIMIT]
    if event.source != ANOMALY_SOURCE or event.detail_type != ANOMALY_DETAIL_TYPE:
        detail = Unparsed(reason=f"EventBridge event {event.source!r} / {event.detail_type!r}", raw=raw)
    elif not isinstance(event.detail, dict):
        detail = Unparsed(reason="anomaly event whose detail is not an object", raw=raw)
    else:
        try:
            detail = _anomaly(event.detail)
        except _NotThis as e:
            detail = Unparsed(reason=str(e), raw=raw)
    return CostNotice(
        delivery_id=event.id,
        via="eventbridge",
        received_at=event.time,
        subject=event.detail_type,
        source_arn=event.resources[0] if event.resources else None,
        detail=detail,
    )


def notices(event: BudgetAlertsEvent) -> list[CostNotice]:
    """Every notice an invocation carries (SNS hands Lambda one record, but the shape allows more)."""
    root = event.root
    if isinstance(root, SnsModel):
        return [notice_from_sns(record.Sns) for record in root.Records]
    return [notice_from_eventbridge(root)]
