"""Train a multilayer perceptron on Fashion-MNIST (MNIST digits work the same way with
``nncore.datasets.mnist`` when their files are present)."""
import nncore
from nncore import Sequential
from nncore.datasets import fashion_mnist
from nncore.layers import Dense, Dropout, Flatten

(x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
x_train = x_train / 255.0
x_test = x_test / 255.0

model = Sequential([
    Flatten(input_shape=(28, 28)),
    Dense(256, activation="relu"),
    Dropout(0.2),
    Dense(256, activation="relu"),
    Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()
model.fit(x_train, y_train, epochs=5, batch_size=32, validation_data=(x_test, y_test))
test_loss, test_acc = model.evaluate(x_test, y_test)
print("Test accuracy:", test_acc)
