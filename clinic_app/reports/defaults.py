"""The report templates every organization starts with: a mental-health and a physiotherapy
consultation. Each section has a stable key (what a report's content is stored under), a title and
guidance: what belongs in it, in words a clinician writes by. The offline generator also scores
transcript passages against the guidance, so it names the things a good passage mentions."""

from __future__ import annotations

from dataclasses import dataclass

MENTAL_HEALTH, PHYSIOTHERAPY = "mental_health", "physiotherapy"


@dataclass(frozen=True)
class DefaultTemplate:
    builtin_key: str
    name: str
    description: str
    sections: tuple[dict[str, str], ...]


def _section(key: str, title: str, guidance: str) -> dict[str, str]:
    return {"key": key, "title": title, "guidance": guidance}


DEFAULT_TEMPLATES: tuple[DefaultTemplate, ...] = (
    DefaultTemplate(
        builtin_key=MENTAL_HEALTH,
        name="Mental-health consultation",
        description="Psychiatric or psychological consultation: presenting complaint, history, mental state, "
        "risk, assessment, medication and plan.",
        sections=(
            _section(
                "presenting_complaint",
                "Presenting complaint",
                "The chief complaint and presenting problem in the patient's words: what brings them, onset, "
                "how long it has been going on, and what precipitated it.",
            ),
            _section(
                "history",
                "History of presenting illness",
                "How the problem developed over time: stressors, triggers, sleep, appetite, energy, mood changes, "
                "work, relationships, family, previous episodes and earlier treatment or therapy.",
            ),
            _section(
                "symptoms",
                "Symptoms and severity",
                "The recorded symptoms with severity, frequency, duration and ICD-11 codes, and how the patient "
                "describes them (anxiety, worry, panic, low mood, insomnia, concentration).",
            ),
            _section(
                "mental_state",
                "Mental state examination",
                "Appearance, behaviour, speech, mood, affect, thought content and form, perception, cognition, "
                "orientation, insight and judgement as observed in the session.",
            ),
            _section(
                "risk",
                "Risk assessment",
                "Suicidal thoughts, self-harm, harm to others, hopelessness, alcohol or drug use, safety plan "
                "and protective factors such as family, friends and support.",
            ),
            _section(
                "assessment",
                "Assessment and impression",
                "The clinical impression, working diagnosis and formulation; the patient's progress and response "
                "to treatment so far.",
            ),
            _section(
                "medication",
                "Medication plan",
                "Medicines started, changed or stopped: drug, dose, frequency, duration, side effects and adherence.",
            ),
            _section(
                "plan",
                "Plan and follow-up",
                "Therapy and next steps: psychotherapy, homework, referrals, follow-up appointment and review "
                "date, and what was agreed with the patient.",
            ),
        ),
    ),
    DefaultTemplate(
        builtin_key=PHYSIOTHERAPY,
        name="Physiotherapy consultation",
        description="Musculoskeletal assessment and treatment: complaint, history, examination, assessment, "
        "treatment and plan.",
        sections=(
            _section(
                "presenting_complaint",
                "Presenting complaint",
                "The main complaint: where the pain or problem is, its onset and mechanism of injury, how long it "
                "has been going on and what precipitated it.",
            ),
            _section(
                "history",
                "History",
                "Previous injuries and surgery, aggravating and easing factors, the pattern over the day and "
                "night, work, sport, activity and general health.",
            ),
            _section(
                "symptoms",
                "Symptoms and severity",
                "The recorded symptoms with severity, frequency, duration and ICD-11 codes: pain score, stiffness, "
                "swelling, numbness, tingling, weakness.",
            ),
            _section(
                "examination",
                "Objective examination",
                "Findings on examination: range of motion, strength, palpation, special tests, posture, gait, "
                "balance and neurological signs.",
            ),
            _section(
                "assessment",
                "Assessment",
                "The clinical impression and diagnosis, contributing factors, and the patient's progress since "
                "the last visit.",
            ),
            _section(
                "treatment",
                "Treatment provided",
                "What was done today: manual therapy, mobilisation, massage, exercises, taping, dry needling, "
                "education and advice.",
            ),
            _section(
                "medication",
                "Medication",
                "Pain relief or anti-inflammatory medicines mentioned: drug, dose, frequency and duration.",
            ),
            _section(
                "plan",
                "Plan and goals",
                "Home exercise program, goals, expected recovery, follow-up appointment, review and referrals.",
            ),
        ),
    ),
)
