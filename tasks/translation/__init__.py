"""translation: English -> Vietnamese with an encoder-decoder of the lesson's RNN (many to many).

Input: an English sentence (any case, NFC or NFD). Output: its Vietnamese translation, truecased and
punctuated: "I love Vietnam" -> "Tôi yêu Việt Nam". The encoder (the lesson's RNN) reads the English words,
its last state starts the decoder (the lesson's RNN too), which writes Vietnamese syllables one by one, optionally looking back at every encoder state through Luong attention. Greedy and beam search
both run inside the exported graph.

Run: python -m tasks.translation.train --config configs/translation.yaml
     python -m tasks.translation.predict --model exports/translation "I love Vietnam"
"""

from tasks.common.task import QualityBar, Summary

# The quality bar is next-syllable accuracy with teacher forcing: validation BLEU is logged only when
# model.checkpoint_metric is "bleu", and the bar must be a key of every run's history.
SUMMARY = Summary(metric="bleu_greedy", baseline="no_attention", quality_bar=QualityBar("val_accuracy", 0.95))
