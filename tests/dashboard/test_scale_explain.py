"""``flask scale-explain``: the plans of the dashboard's and the lists' own statements (docs/performance.md)."""

from __future__ import annotations

from clinic_app.extensions import db


def test_scale_explain_prints_the_plan_of_each_statement_the_pages_send(app, tenants):
    runner = app.test_cli_runner()
    seeded = runner.invoke(
        args=["seed-scale", "--patients", "30", "--appointments", "200", "--org", tenants.a.id, "--seed", "4"]
    )
    assert seeded.exit_code == 0, seeded.output
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    result = runner.invoke(args=["scale-explain", "--org", tenants.a.id])
    if not postgres:
        assert result.exit_code == 2 and "reads PostgreSQL's plans" in result.output
        return
    assert result.exit_code == 0, result.output
    titles = [line for line in result.output.splitlines() if line.startswith("## ")]
    parts = ["## dashboard", "## dashboard", "## active patients", "## worklist"]
    assert [title.split(":")[0] for title in titles] == parts
    # The snapshot read is one statement once a snapshot is stored; the recount reads the
    # appointments; every statement shown comes with its plan.
    assert titles[0].startswith("## dashboard: the snapshot read (every request): 1 statements")
    output = result.output
    assert "FROM appointments" in output and "ix_patient_appointment_stats_org_active" in output
    assert output.count("### SELECT") == output.count("Execution Time:") >= 15
    only = runner.invoke(args=["scale-explain", "--org", tenants.a.id, "--only", "worklist"])
    assert only.exit_code == 0, only.output
    assert [line.split(":")[0] for line in only.output.splitlines() if line.startswith("## ")] == ["## worklist"]
