"""examples/mnist_cnn.py trained by several processes at once (data-parallel, over MPI):

    pip install "nncore[mpi]"
    mpiexec -n 2 python examples/mnist_cnn_distributed.py

The only changes from the one-process script: ``nncore.distributed.init()`` before the model is built, and the batch
size per rank, ``32 // size()``, so that each step's global batch is still 32 samples: every rank takes its part of
each batch, the gradients are averaged over all of them, and the run follows the one-process run step by step (to
float rounding), reaching its accuracy. (To use a larger global batch, keep 32 per rank and scale the learning rate
with ``nncore.distributed.scaled_learning_rate``.) Rank 0 prints; every rank ends with the same weights.
"""
import nncore
from nncore.datasets import fashion_mnist
from nncore import Sequential
from nncore.layers import Dense, Flatten, Conv2D, MaxPooling2D

nncore.distributed.init()

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
model.fit(x_train, y_train, epochs=10, batch_size=32 // nncore.distributed.size(), validation_data=(x_test, y_test))
test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
if nncore.distributed.is_main():
    print('Test accuracy:', test_acc)
