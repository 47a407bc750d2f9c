"""Shared pieces of Tessera's engine reference scripts (PyTorch side).

Weights come from a deterministic generator written identically in Swift
(Sources/Engine/Weights/DeterministicWeights.swift), so golden files need no weight files.
"""
import numpy as np

MASK = (1 << 64) - 1


def fnv1a(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def uniform(seed, count):
    """count values in [-1, 1): SplitMix64, top 24 bits, as float32."""
    out = np.empty(count, np.float32)
    state = seed
    for i in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        out[i] = np.float32(z >> 40) / np.float32(1 << 23) - np.float32(1)
    return out


def uniform_fast(seed, count):
    """The same sequence, vectorised with numpy uint64 arithmetic (wraps mod 2^64)."""
    with np.errstate(over="ignore"):
        idx = np.arange(1, count + 1, dtype=np.uint64)
        state = np.uint64(seed) + idx * np.uint64(0x9E3779B97F4A7C15)
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        return ((z >> np.uint64(40)).astype(np.float32) / np.float32(1 << 23) - np.float32(1)).astype(np.float32)


def value_for(name, shape):
    """The deterministic value of state_dict entry `name` with `shape`."""
    count = int(np.prod(shape)) if len(shape) else 1
    u = uniform_fast(fnv1a(name), count)
    if name.endswith("running_var"):
        v = np.float32(1) + np.float32(0.5) * np.abs(u)
    elif name.endswith("running_mean") or name.endswith("bias"):
        v = np.float32(0.1) * u
    elif name.endswith(".weight") and len(shape) == 1:  # norm scales
        v = np.float32(1) + np.float32(0.1) * u
    elif name.endswith("weight_g"):
        v = np.float32(1) + np.float32(0.1) * u
    else:  # conv and linear weights: uniform(-1, 1) / sqrt(fan_in)
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        v = u / np.float32(np.sqrt(fan_in))
    return v.astype(np.float32).reshape(shape)


def fill(module):
    """Overwrites every parameter and buffer of `module` with its deterministic value."""
    import torch
    state = module.state_dict()
    for name, tensor in state.items():
        if tensor.dtype in (torch.float32,):
            state[name] = torch.from_numpy(value_for(name, tuple(tensor.shape)))
    module.load_state_dict(state)
    return module
