"""What every task reuses: config, run directories, training, TensorBoard images, export, metrics, text,
atomic files and folders (atomic.py), and built-in data written once per settings (materialize.py)."""
