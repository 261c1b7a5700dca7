"""What every task reuses: config, run directories, training, TensorBoard images, export, metrics, text."""
