"""Sequence classification with nncore's recurrent layers: short synthetic movie reviews, padded to a fixed
length, through Embedding(mask_zero=True) -> Bidirectional(LSTM) -> Dense.

The label follows a rule that a bag of words cannot express: each positive word counts +1, each negative word
-1, and "not" flips the word right after it ("not good" is negative); a review is positive when its total is
above zero. Padding (id 0) is masked, so the LSTM sees each review at its own length.

    python examples/sequence_classification.py
"""
from __future__ import annotations

import numpy as np

import nncore
from nncore.layers import LSTM, Bidirectional, Dense, Embedding

POSITIVE = ["good", "great", "excellent", "fun", "moving", "brilliant", "enjoyable", "superb"]
NEGATIVE = ["bad", "boring", "awful", "dull", "weak", "terrible", "tedious", "poor"]
FILLER = ["the", "movie", "film", "plot", "was", "a", "and", "acting", "story", "really", "this", "very", "is",
          "ending", "cast", "music", "quite", "it", "of", "with", "director", "script"]
VOCAB = ["<pad>"] + POSITIVE + NEGATIVE + ["not"] + FILLER  # id 0 is padding
WORD_ID = {w: i for i, w in enumerate(VOCAB)}
MAXLEN = 20


def label(words: list) -> int:
    """1 if the review is positive under the rule above, 0 if negative, -1 if it is a tie."""
    score = 0
    for i, w in enumerate(words):
        s = 1 if w in POSITIVE else -1 if w in NEGATIVE else 0
        score += -s if i > 0 and words[i - 1] == "not" else s
    return -1 if score == 0 else int(score > 0)


def random_review(rng: np.random.Generator) -> list:
    words = list(rng.choice(FILLER, rng.integers(4, MAXLEN + 1)))
    for pos in rng.choice(len(words), rng.integers(1, 4), replace=False):
        words[pos] = rng.choice(POSITIVE if rng.random() < 0.5 else NEGATIVE)
        if pos > 0 and rng.random() < 0.4:
            words[pos - 1] = "not"
    return words


def encode(reviews: list) -> np.ndarray:
    """Word lists -> (n, MAXLEN) ids, padded with 0 at the end."""
    x = np.zeros((len(reviews), MAXLEN), np.float32)
    for i, words in enumerate(reviews):
        x[i, :len(words)] = [WORD_ID[w] for w in words]
    return x


def make_reviews(n: int, rng: np.random.Generator):
    """n labelled reviews (ties left out): (ids (n, MAXLEN), labels (n,), the word lists)."""
    reviews, labels = [], []
    while len(reviews) < n:
        words = random_review(rng)
        y = label(words)
        if y >= 0:
            reviews.append(words)
            labels.append(y)
    return encode(reviews), np.array(labels, np.float32), reviews


def build_model() -> nncore.Sequential:
    model = nncore.Sequential([
        Embedding(len(VOCAB), 16, mask_zero=True, input_shape=(MAXLEN,)),
        Bidirectional(LSTM(16)),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=nncore.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def main() -> None:
    rng = np.random.default_rng(0)
    nncore.set_random_seed(0)
    x_train, y_train, _ = make_reviews(4000, rng)
    x_test, y_test, _ = make_reviews(1000, rng)

    model = build_model()
    model.summary()
    model.fit(x_train, y_train, epochs=5, batch_size=32, validation_split=0.1)
    test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy: {test_acc:.4f}")

    examples = [["the", "movie", "was", "good"], ["the", "movie", "was", "not", "good"],
                ["not", "bad", "and", "really", "fun"], ["a", "great", "cast", "and", "a", "terrible", "boring",
                                                         "script"]]
    for words, p in zip(examples, model.predict(encode(examples))[:, 0]):
        print(f"{p:.3f}  {' '.join(words)}")

    # The layers also run on their own: the final LSTM states of one review, Keras's return_state.
    lstm = LSTM(8, return_state=True)
    output, h, c = lstm(model.layers[0](encode(examples[:1])), mask=encode(examples[:1]) != 0)
    print("one LSTM by itself: output", output.shape, "states", h.shape, c.shape)


if __name__ == "__main__":
    main()
