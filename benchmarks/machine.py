"""What machine a benchmark ran on, and how busy it was: recorded in every benchmark's JSON."""
import os
import platform
import subprocess

LSCPU_FIELDS = {"cpu_model": "Model name", "cpus": "CPU(s)", "threads_per_core": "Thread(s) per core",
                "cores_per_socket": "Core(s) per socket"}


def machine_info():
    """Platform, CPU (lscpu), usable cores and the load average now (1, 5, 15 minutes)."""
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "usable_cores": len(os.sched_getaffinity(0)), "load_average": list(os.getloadavg())}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        lscpu = ""
    fields = {key.strip(): value.strip() for key, value in
              (line.split(":", 1) for line in lscpu.splitlines() if ":" in line)}
    info.update({key: fields.get(field) for key, field in LSCPU_FIELDS.items()})
    info["avx512f"] = "avx512f" in fields.get("Flags", "").split() if "Flags" in fields else None
    return info


def with_load_after(before):
    """`before` (machine_info() at the start) with the load averages at the start and now."""
    machine = {key: value for key, value in before.items() if key != "load_average"}
    return {**machine, "load_average_before": before["load_average"], "load_average_after": list(os.getloadavg())}


def versions(torch=False):
    """TensorFlow's and Keras's versions, and torch's (read from its metadata, not imported) if it ran."""
    from importlib.metadata import version

    import keras
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "keras": keras.__version__, "torch": version("torch") if torch else None}
