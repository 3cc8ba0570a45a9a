"""Report benchmarks (issue 7): the offline draft generator and PDF rendering, in this process.

    .venv/bin/python bench/reports.py [--runs 30] [--warmup 3]

Two timings, each against a baseline measured in the same run, candidate and baseline alternating:

* ``report_offline_draft``: the built-in offline generator
  (``clinic_app.reports.generation.offline.generate``) drafting the default mental-health template
  from a synthetic 10,000-word transcript with timestamps and speakers, plus intake facts,
  symptoms and a medication plan. Baseline: joining the same transcript's text into one string
  (the least any generator must do: read every word once). Target: median under 200 ms.
* ``report_pdf_3_pages``: ``clinic_app.reports.pdf.render_pdf`` of a signed three-page report
  (letterhead, identifiers, eight sections, signature block with its hash). Baseline: rendering a
  one-line PDF through the same WeasyPrint (its fixed cost per document). Target: median under 1 s.

Each prints runs, median and p95 in ms, the ratio to its baseline, and PASS or FAIL against its
target; the exit status is 1 when a target is missed. The synthetic inputs are built from a fixed
seed, so every run times the same work.

For ``bench/catalog.py``: ``prepare_offline_draft(ctx)`` and ``prepare_pdf(ctx)`` return the
``(candidate, baseline)`` pair a ``TimingBenchmark`` wants (``ctx`` is not used: neither needs
the database or the servers), and ``TARGETS_MS`` holds the targets by benchmark name.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pypdf import PdfReader  # noqa: E402

from clinic_app.reports import pdf  # noqa: E402
from clinic_app.reports.defaults import DEFAULT_TEMPLATES, MENTAL_HEALTH  # noqa: E402
from clinic_app.reports.document import ReportDocument  # noqa: E402
from clinic_app.reports.generation import offline  # noqa: E402
from clinic_app.reports.generation.base import (  # noqa: E402
    GenerationInputs,
    Medication,
    Section,
    SymptomFact,
    TranscriptLine,
)

OFFLINE_DRAFT = "report_offline_draft"
PDF_3_PAGES = "report_pdf_3_pages"
TARGETS_MS = {OFFLINE_DRAFT: 200.0, PDF_3_PAGES: 1000.0}
TRANSCRIPT_WORDS = 10_000
SEED = 7

# --- synthetic inputs --------------------------------------------------------------------------

_CLINICIAN_LINES = (
    "How have you been sleeping since we last spoke",
    "Can you tell me more about when the worry started",
    "On a scale of one to ten how would you rate your mood this week",
    "Have you had any thoughts of harming yourself",
    "How are you getting on with the sertraline and any side effects",
    "What helps when the panic comes on",
    "Let us agree on a plan for the next two weeks",
    "How is your appetite and your energy during the day",
    "Who do you have around you for support at the moment",
    "Have you been able to keep up with the breathing exercises",
)
_PATIENT_SPEECH = (
    "I wake up at three most nights and my mind starts racing about work and money and the kids "
    "the anxiety is worse in the mornings and my chest feels tight before meetings my manager changed "
    "the roster in March and since then I have had panic attacks maybe twice a week sleep has been "
    "broken and I feel exhausted by the afternoon appetite is down I skip lunch most days my partner "
    "has been supportive and my sister calls every evening the medication makes me a bit nauseous in "
    "the first hour but that is settling the breathing exercises help a little when I remember to do "
    "them I have not had thoughts of harming myself but I do feel hopeless some evenings concentration "
    "is poor I read the same email three times I stopped going to the gym in April and I miss it"
)
_PATIENT_WORDS = tuple(_PATIENT_SPEECH.split())


def synthetic_inputs(words: int = TRANSCRIPT_WORDS, seed: int = SEED) -> Any:
    """Generation inputs for the default mental-health template with a transcript of ``words``
    words, in segments of 8 to 60 words alternating clinician and patient, each with start and
    end times as a 50-minute consultation would have them."""

    rng = random.Random(seed)
    template = next(t for t in DEFAULT_TEMPLATES if t.builtin_key == MENTAL_HEALTH)
    lines: list[TranscriptLine] = []
    total, clock, speaker_is_patient = 0, 0.0, False
    while total < words:
        if speaker_is_patient:
            size = min(rng.randint(20, 60), words - total)
            start = rng.randrange(len(_PATIENT_WORDS))
            text = " ".join(_PATIENT_WORDS[(start + i) % len(_PATIENT_WORDS)] for i in range(size)) + "."
            speaker = "Patient"
        else:
            text = rng.choice(_CLINICIAN_LINES) + "?"
            speaker = "Clinician"
        count = len(text.split())
        duration = count / 2.5  # about 150 words a minute
        lines.append(TranscriptLine(start=round(clock, 1), end=round(clock + duration, 1), speaker=speaker, text=text))
        total += count
        clock += duration + rng.uniform(0.3, 2.0)
        speaker_is_patient = not speaker_is_patient
    return GenerationInputs(
        template_name=template.name,
        sections=tuple(Section(s["key"], s["title"], s["guidance"]) for s in template.sections),
        session_type="follow_up",
        session_date="27 Nov 2026",
        clinician_name="Dr Alex Morgan",
        chief_complaint="Worsening anxiety with panic attacks and broken sleep since a change at work",
        presenting_problem="Anxiety, panic attacks twice a week, early waking",
        illness_duration="8 months",
        precipitating_factors="Roster change at work in March; financial pressure",
        symptoms=(
            SymptomFact("Generalised anxiety", "6B00", "moderate", "daily", "8 months"),
            SymptomFact("Panic attacks", "6B01", "severe", "twice a week", "6 months"),
            SymptomFact("Insomnia", "7A00", "moderate", "most nights", "6 months", "Early waking at 3 am"),
        ),
        medication_plan=(
            Medication("Sertraline", "50 mg", "once daily", "12 weeks"),
            Medication("Melatonin", "2 mg", "at night", "4 weeks"),
        ),
        session_notes="Review in two weeks; continue breathing exercises; consider CBT referral.",
        transcript=tuple(lines),
    )


def three_page_document() -> Any:
    """A signed report that renders to exactly three A4 pages."""

    rng = random.Random(SEED)
    sections = []
    titles = (
        "Presenting complaint",
        "History of presenting illness",
        "Symptoms and severity",
        "Mental state examination",
        "Risk assessment",
        "Assessment",
        "Medication",
        "Plan",
    )
    for index, title in enumerate(titles):
        sentences = []
        for _ in range(9):
            start = rng.randrange(len(_PATIENT_WORDS))
            sentences.append(
                " ".join(_PATIENT_WORDS[(start + i) % len(_PATIENT_WORDS)] for i in range(18)).capitalize()
            )
        body = f"<p>{'. '.join(sentences[:5])}.</p><p>{'. '.join(sentences[5:])}.</p>"
        if index % 3 == 0:
            body += "<ul><li>Sertraline 50 mg once daily</li><li>Review in two weeks</li></ul>"
        if index % 3 == 1:
            body += (
                "<blockquote><p>[12:04] <strong>Patient:</strong> “I wake up at three most nights.”</p></blockquote>"
            )
        sections.append((title, body))
    return ReportDocument(
        organization_name="Harbour Mind Health",
        organization_address="12 Harbour Street, Sydney NSW 2000",
        letterhead_lines=("Phone 02 9000 1234", "reception@harbour.example"),
        report_id="rep_BenchmarkReport000000",
        version=1,
        title="Mental-health consultation",
        status="signed",
        patient_name="Jordan Example",
        patient_identifiers=(("Date of birth", "1985-04-12"), ("Patient id", "pat_BenchmarkPatient00000")),
        session_code="CS-20261127-BENCH001",
        session_date="27 Nov 2026",
        clinician_name="Dr Alex Morgan",
        sections=tuple(sections),
        signed_by="Dr Alex Morgan",
        signed_at=datetime(2026, 11, 27, 4, 30, tzinfo=UTC),
        content_sha256="3f" * 32,
        amends=None,
    )


def one_line_document() -> Any:
    return replace(
        three_page_document(), sections=(("Note", "<p>One line.</p>"),), letterhead_lines=(), patient_identifiers=()
    )


# --- the pairs bench/catalog.py registers ------------------------------------------------------


def prepare_offline_draft(ctx: Any = None) -> tuple[Callable[[], object], Callable[[], object]]:
    inputs = synthetic_inputs()

    def candidate() -> object:
        draft = offline.generate(inputs)
        if set(draft.sections) != {s.key for s in inputs.sections}:
            raise RuntimeError("the offline draft is missing sections")
        return draft

    def baseline() -> object:
        return " ".join(line.text for line in inputs.transcript)

    return candidate, baseline


def prepare_pdf(ctx: Any = None) -> tuple[Callable[[], object], Callable[[], object]]:
    if not pdf.available():
        raise RuntimeError(f"WeasyPrint cannot run here: {pdf.unavailable_reason()}")
    document, trivial = three_page_document(), one_line_document()
    return (lambda: pdf.render_pdf(document)), (lambda: pdf.render_pdf(trivial))


# --- standalone run ----------------------------------------------------------------------------


def percentile(ordered: list[float], fraction: float) -> float:
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def time_pair(
    candidate: Callable[[], object], baseline: Callable[[], object], *, runs: int, warmup: int
) -> dict[str, Any]:
    for _ in range(warmup):
        candidate()
        baseline()
    app_ms: list[float] = []
    base_ms: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        candidate()
        middle = time.perf_counter()
        baseline()
        ended = time.perf_counter()
        app_ms.append((middle - started) * 1000)
        base_ms.append((ended - middle) * 1000)
    app_ms.sort()
    base_ms.sort()
    result = {
        "runs": runs,
        "app_p50_ms": statistics.median(app_ms),
        "app_p95_ms": percentile(app_ms, 0.95),
        "baseline_p50_ms": statistics.median(base_ms),
        "baseline_p95_ms": percentile(base_ms, 0.95),
    }
    result["p50_ratio"] = result["app_p50_ms"] / result["baseline_p50_ms"] if result["baseline_p50_ms"] else None
    return result


def facts() -> dict[str, Any]:
    """What the benchmarks measure, checked: the transcript's size and the PDF's page count."""
    inputs = synthetic_inputs()
    pages = len(PdfReader(io.BytesIO(pdf.render_pdf(three_page_document()))).pages)
    return {
        "transcript_words": sum(len(line.text.split()) for line in inputs.transcript),
        "transcript_segments": len(inputs.transcript),
        "pdf_pages": pages,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per target (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    args = parser.parse_args(argv)

    checked = facts()
    print(
        f"inputs: transcript {checked['transcript_words']} words in {checked['transcript_segments']} segments; "
        f"report PDF {checked['pdf_pages']} pages"
    )
    benchmarks = (
        (OFFLINE_DRAFT, prepare_offline_draft, "offline draft, 10,000-word transcript", "transcript join"),
        (PDF_3_PAGES, prepare_pdf, "three-page report PDF", "one-line PDF"),
    )
    header = f"{'benchmark':<22} {'target':<9} {'runs':>6} {'p50 ms':>10} {'p95 ms':>10}"
    print(header)
    print("-" * len(header))
    results = []
    for name, prepare, _label, _baseline_label in benchmarks:
        candidate, baseline = prepare()
        result = time_pair(candidate, baseline, runs=args.runs, warmup=args.warmup)
        results.append(result)
        print(f"{name:<22} {'app':<9} {result['runs']:>6} {result['app_p50_ms']:>10.3f} {result['app_p95_ms']:>10.3f}")
        print(
            f"{name:<22} {'baseline':<9} {result['runs']:>6} {result['baseline_p50_ms']:>10.3f} "
            f"{result['baseline_p95_ms']:>10.3f}"
        )
    print()
    failed = False
    for (name, _prepare, label, baseline_label), result in zip(benchmarks, results, strict=True):
        ratio = result["p50_ratio"]
        print(f"{name}: p50 time ratio {ratio:.2f}x of baseline ({baseline_label})" if ratio else f"{name}: -")
        target = TARGETS_MS[name]
        passed = result["app_p50_ms"] < target
        failed |= not passed
        print(
            f"  {'PASS' if passed else 'FAIL'}  {label} under {target:.0f} ms: "
            f"median {result['app_p50_ms']:.1f} ms (p95 {result['app_p95_ms']:.1f} ms)"
        )
    if checked["pdf_pages"] != 3:
        failed = True
        print(f"  FAIL  the benchmark report renders to 3 pages: {checked['pdf_pages']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
