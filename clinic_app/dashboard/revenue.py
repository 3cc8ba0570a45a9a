"""The Revenue page of the dashboard (billing:read): invoiced and received per week, the
outstanding balance, and what was invoiced per practitioner and per appointment type, as SVG
charts like the dashboard's, each with its numbers as a table. Chart bars are whole currency
units; the tables show the exact amounts."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from clinic_app.billing import revenue as billing_revenue
from clinic_app.billing import service as billing
from clinic_app.billing.money import display
from clinic_app.core.access import requires
from clinic_app.core.tenancy import current_organization_id
from clinic_app.core.web import render_page
from clinic_app.dashboard import bp, charts
from clinic_app.dashboard.page import Chart


def _whole(cents: int) -> int:
    return max(0, (cents + 50) // 100)


def _weeks_chart(data: billing_revenue.Revenue, currency: str) -> Chart:
    labels = [f"{week.start.day} {week.start.strftime('%b')}" for week in data.weeks]
    invoiced = sum(week.invoiced for week in data.weeks)
    received = sum(week.received for week in data.weeks)
    description = (
        f"Revenue per week for the 12 weeks from {labels[0]} to {labels[-1]} (weeks start on Monday): "
        f"{display(invoiced, currency)} invoiced and {display(received, currency)} received."
    )
    svg = charts.grouped_bars(
        "chart-revenue-weeks",
        title="Invoiced and received per week",
        description=description,
        labels=labels,
        series=[
            charts.Series("invoiced", "Invoiced", [_whole(week.invoiced) for week in data.weeks]),
            charts.Series("received", "Received", [_whole(week.received) for week in data.weeks]),
        ],
    )
    rows = [
        (f"Week of {label}", display(week.invoiced, currency), display(week.received, currency))
        for label, week in zip(labels, data.weeks, strict=True)
    ]
    return Chart(
        "revenue-weeks", "Invoiced and received per week", svg, ("Week", "Invoiced", "Received"), rows,
        empty=not (invoiced or received),
    )  # fmt: skip


def _breakdown(key: str, heading: str, column: str, items: list[tuple[str, int]], currency: str) -> Chart:
    listed = ", ".join(f"{name} {display(total, currency)}" for name, total in items)
    svg = charts.horizontal_bars(
        f"chart-{key}",
        title=heading,
        description=f"Invoiced in the last 12 weeks: {listed}." if items else "Nothing invoiced in the last 12 weeks.",
        labels=[name for name, _ in items],
        values=[_whole(total) for _, total in items],
    )
    rows = [(name, display(total, currency)) for name, total in items]
    return Chart(key, heading, svg, (column, "Invoiced"), rows, empty=not items)


@bp.get("/dashboard/revenue")
@requires("billing:read")
def revenue() -> ResponseReturnValue:
    organization_id = current_organization_id()
    currency = billing.billing_settings(organization_id).currency
    data = billing_revenue.revenue(organization_id)
    chart_list = [
        _weeks_chart(data, currency),
        _breakdown(
            "revenue-practitioners", "Invoiced per practitioner", "Practitioner", data.by_practitioner, currency
        ),
        _breakdown("revenue-types", "Invoiced per appointment type", "Appointment type", data.by_type, currency),
    ]
    return render_page(
        "dashboard/revenue.html",
        "dashboard/_revenue.html",
        charts=chart_list,
        outstanding=display(data.outstanding, currency),
        invoiced=display(data.currency_total_invoiced, currency),
    )
