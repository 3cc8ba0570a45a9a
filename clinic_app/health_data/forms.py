"""The forms of the chart's "Activity and sleep" section, and the labels they show."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateTimeLocalField, SelectField

from clinic_app.health_data import service

ALGORITHM_LABELS = {
    "cole_kripke": "Cole-Kripke 1992 (the default)",
    "sadeh": "Sadeh 1994",
    "oakley": "Oakley (Actiware)",
}
KIND_LABELS = {"metrics": "Health metrics (API)", "series": "Activity series (API)", "diary": "Sleep diary night"}


FORMAT_CHOICES = [(name, label) for name, (_, label) in service.FILE_FORMATS.items()]
ALGORITHM_CHOICES = list(ALGORITHM_LABELS.items())
MINUTES = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends


class UploadForm(FlaskForm):
    file = FileField("File", render_kw={"id": "health-file", "required": True})
    file_format = SelectField("Kind of file", choices=FORMAT_CHOICES, render_kw={"id": "health-file-format"})
    algorithm = SelectField("Sleep scoring", choices=ALGORITHM_CHOICES, render_kw={"id": "health-algorithm"})


class AnalyseForm(FlaskForm):
    algorithm = SelectField("Sleep scoring", choices=ALGORITHM_CHOICES, render_kw={"id": "health-reanalyse-algorithm"})


class DiaryForm(FlaskForm):
    in_bed_start = DateTimeLocalField("Into bed", format=MINUTES, render_kw={"id": "health-in-bed-start"})
    in_bed_end = DateTimeLocalField("Out of bed", format=MINUTES, render_kw={"id": "health-in-bed-end"})
