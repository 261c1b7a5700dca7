"""heart_attack: a patient's recent exams -> risk of a heart attack with the lesson's RNN (many to one).

Input: the patient's last K visits in time order, F measurements each (age, sex, blood pressure,
cholesterol, HDL, heart rate, BMI, glucose, smoking, medication, diabetes, and the gap since the previous
visit), NaN for a value not measured, an all-NaN row for a missed visit. Output: the probability of a
heart attack. The built-in cohort's risk grows with how measurements change over the months, so a model
that sees only the last exam is measurably worse than the RNN over the sequence.

Run: python -m tasks.heart_attack.train --config configs/heart_attack.yaml
     python -m tasks.heart_attack.predict --model exports/heart_attack --csv visits.csv
"""

from tasks.common.task import QualityBar, Summary

SUMMARY = Summary(metric="roc_auc", baseline="last_visit_logistic", quality_bar=QualityBar("val_roc_auc", 0.85))
