# Two commands set up everything on a fresh machine: `make train` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install train test tensorboard bench gradcheck clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The recurrence's chain as compiled TensorFlow ops (docs/speed.md), built for this machine's CPU and
# TensorFlow; without it rnn_layers.SimpleRNN trains with TensorFlow ops (slower) and warns once.
KERNEL := rnn_layers/kernels/_rnn_chain.so
$(KERNEL): rnn_layers/kernels/rnn_chain.cc rnn_layers/kernels/build.py $(STAMP)
	$(PY) -m rnn_layers.kernels.build

install: $(STAMP) $(KERNEL)

train: $(STAMP) $(KERNEL)  ## train every task on its built-in data, export each, print a summary table
	$(VENV)/bin/rnn-tasks train --all

test: $(STAMP) $(KERNEL)  ## the whole test suite, notebooks included
	$(PY) -m pytest -n 2 --dist loadfile

HOST ?= localhost
tensorboard: $(STAMP)  ## serve runs/ on http://localhost:6006; all interfaces only when asked: make tensorboard HOST=0.0.0.0
	$(VENV)/bin/tensorboard --logdir runs --host $(HOST)

gradcheck: $(STAMP) $(KERNEL)
	$(VENV)/bin/rnn-tasks gradcheck

# The speed tables + JSON under $(BENCH_DIR): the fast layer against every Keras and PyTorch configuration,
# fit overhead, serving, video decoding. About 25 minutes on 2 idle cores (docs/speed.md); QUICK=1 runs
# every step with tiny settings in a few minutes, to check that it works (its numbers are not measurements).
BENCH_DIR ?= benchmarks/results
QUICK ?=
bench: $(STAMP) $(KERNEL)  ## speed tables + JSON: RNN vs Keras and PyTorch, the step budget, fit overhead, serving, video decoding
	$(PY) -m pip install --quiet -e '.[bench]'
	mkdir -p $(BENCH_DIR)
	$(PY) -m benchmarks.rnn_throughput $(if $(QUICK),--quick --repeats 2 --seconds 0.05,--repeats 5 --seconds 0.15 --quick-repeats 7) --json $(BENCH_DIR)/rnn_throughput.json
	$(PY) -m benchmarks.step_budget $(if $(QUICK),--quick) --json $(BENCH_DIR)/step_budget.json
	$(PY) -m benchmarks.fit_overhead $(if $(QUICK),--quick,--repeats 7) --json $(BENCH_DIR)/fit_overhead.json
	$(PY) -m benchmarks.video_decode $(if $(QUICK),--clips 2 --repeats 1) --json $(BENCH_DIR)/video_decode.json
	test -d exports/sentiment_stars && $(PY) -m benchmarks.serving $(if $(QUICK),--repeats 1 --seconds 0.2) --json $(BENCH_DIR)/serving.json || echo "serving: run make train first"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache $(KERNEL)
