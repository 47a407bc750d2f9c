"""What a benchmark ran on, for the line the bench scripts print before their figures:
the CPU model, and the kernels a tessera binary computes with (`tessera info`)."""
import subprocess


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def tessera_kernels(binary):
    """What `tessera info` says computes Tessera's maps (engine kernels, OpenBLAS kernel)."""
    info = subprocess.run([binary, "info"], capture_output=True, text=True).stdout.splitlines()
    return "tessera " + ", ".join(line for line in info if line.startswith(("engine kernels", "OpenBLAS kernel")))
