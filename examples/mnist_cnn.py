"""The classic CNN of every tutorial, with only the imports changed from Keras.

Fashion-MNIST comes from Debian's dataset-fashion-mnist package, ~/.nncore/datasets or $NNCORE_DATA; without
them nncore falls back to a small real subset it ships (and says so). MNIST digits work the same way
(``from nncore.datasets import mnist``) when their files are present.
"""
import nncore
from nncore.datasets import fashion_mnist          # mnist works the same way when its files are present
from nncore import Sequential
from nncore.layers import Dense, Flatten, Conv2D, MaxPooling2D

(x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
x_train = x_train.reshape(-1, 28, 28, 1) / 255.0
x_test = x_test.reshape(-1, 28, 28, 1) / 255.0

model = Sequential([
    Conv2D(32, kernel_size=(3, 3), activation='relu', input_shape=(28, 28, 1)),
    MaxPooling2D(pool_size=(2, 2)),
    Flatten(),
    Dense(10, activation='softmax')
])
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
model.fit(x_train, y_train, epochs=10, batch_size=32, validation_data=(x_test, y_test))
test_loss, test_acc = model.evaluate(x_test, y_test)
print('Test accuracy:', test_acc)
