"""translation: English -> Vietnamese with an encoder-decoder of the lesson's RNN (many to many).

Input: an English sentence (any case, NFC or NFD). Output: its Vietnamese translation, truecased and
punctuated: "I love Vietnam" -> "Tôi yêu Việt Nam". The encoder (the lesson's RNN) reads the English words,
its last state starts the decoder (the lesson's RNN too), which writes Vietnamese syllables one by one, optionally looking back at every encoder state through Luong attention. Greedy and beam search
both run inside the exported graph.

Run: python -m tasks.translation.train --config configs/translation.yaml
     python -m tasks.translation.predict --model exports/translation "I love Vietnam"
"""

# quality_bar: the validation metric and value whose first epoch `make train` reports the seconds to
# (next-syllable accuracy with teacher forcing; BLEU is computed once, after training).
SUMMARY = {"metric": "bleu_greedy", "baseline": "no_attention", "quality_bar": ("val_accuracy", 0.95)}
