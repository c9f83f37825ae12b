"""cnn-backprop: backpropagation through a small CNN, from scratch in NumPy, every number checked."""

__version__ = "0.1.0"
