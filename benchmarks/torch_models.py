"""The PyTorch model of the RNN benchmark: nn.RNN (or nn.LSTM) -> last state -> Linear(1).

A module of its own because it imports torch: only benchmarks.torch_peer's processes load it, never the
TensorFlow process. TorchScript reads the argument types from these module-level names.
"""
import torch
from torch.nn.utils.rnn import PackedSequence


class LastState(torch.nn.Module):
    """The recurrent layer's last state through a Linear(1) head; `cell` "rnn" (tanh) or "lstm"."""

    def __init__(self, features: int, units: int, cell: str = "rnn"):
        super().__init__()
        if cell == "lstm":
            self.rnn = torch.nn.LSTM(features, units, batch_first=True)
        else:
            self.rnn = torch.nn.RNN(features, units, batch_first=True, nonlinearity="tanh")
        self.head = torch.nn.Linear(units, 1)

    def forward(self, x: torch.Tensor):
        state = self.rnn(x)[1]  # (1, B, m); LSTM: (h, c)
        if isinstance(state, tuple):
            return self.head(state[0][0])
        return self.head(state[0])


class PackedLastState(LastState):
    """The same on packed variable-length sequences (torch.jit.script needs the argument's type)."""

    def forward(self, x: PackedSequence):
        state = self.rnn(x)[1]
        if isinstance(state, tuple):
            return self.head(state[0][0])
        return self.head(state[0])


def compiled(module, mode):
    """The module as run: eager, `torch.compile` or `torch.jit.script`."""
    if mode == "compile":
        return torch.compile(module)
    if mode == "jit_script":
        return torch.jit.script(module)
    return module
