"""sentiment_stars: review text -> 1..5 stars with the lesson's RNN (many to one).

Input: a review (any length, Vietnamese or English, NFC or NFD). Output: stars 1..5 and the five
probabilities. "ứng dụng tốt" -> 4 stars; "đẹp nhưng chậm" and "chậm nhưng đẹp" differ, because the clause
after "nhưng" dominates, which a bag of words cannot see.

Run: python -m tasks.sentiment_stars.train --config configs/sentiment_stars.yaml
     python -m tasks.sentiment_stars.predict --model exports/sentiment_stars "ứng dụng tốt"
"""

from tasks.common.task import QualityBar, Summary

SUMMARY = Summary(metric="accuracy", baseline="bag_of_words", quality_bar=QualityBar("val_accuracy", 0.90))
