"""What every benchmark writes: the command that ran it, and its results as JSON with the printed table beside it."""
import json
import os
import sys


def command_line(module, argv=None):
    """`python -m <module> <arguments>`: argv as given to main(), else the process's own."""
    return " ".join([f"python -m {module}", *(argv if argv is not None else sys.argv[1:])])


def write_report(path, report, text):
    """report as JSON to `path` and `text` (the table as printed) to the same name with .txt."""
    with open(path, "w", encoding="utf-8") as file:
        json.dump(report, file, indent=1)
    with open(os.path.splitext(path)[0] + ".txt", "w", encoding="utf-8") as file:
        file.write(text + "\n")
    print(f"wrote {path}")
