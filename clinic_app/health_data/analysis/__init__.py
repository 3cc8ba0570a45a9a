"""Actigraphy analysis: circadian rhythm, sleep/wake scoring, non-wear, nights, cosinor (pure Python)."""
