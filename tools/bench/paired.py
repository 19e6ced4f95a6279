#!/usr/bin/python3
"""Runs ark's and PyTorch's side of one benchmark group in lock-step and prints both sides' CSV lines
(run.sh's PAIRED=1).

    paired.py [--torch-first] -- ARK_COMMAND... --- TORCH_COMMAND...

Both commands get --step: a process prints "#step" at start and after each case, "#sample" before each timed
sample, and at each marker waits idle on stdin until told to go on. Within a case the two sides take turns
sample by sample (setup and warm-up are one turn), the side that goes first alternating from turn to turn and
from case to case; a side that has finished the case waits at its "#step" until the other has too. A slow
spell of this shared machine, which lasts from a fraction of a second to minutes, so hits both sides of a case
alike instead of one side's samples, while each process keeps its state from case to case as in a plain run (a
fresh process per case would not: PyTorch's allocator then faults in new pages on every call of some shapes,
which doubles their times).
"""
import subprocess
import sys


class Side:
    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd + ["--step"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     bufsize=1)
        self.done = False
        self.case_over = False  # paused at "#step": between cases
        self.wait_for_marker()

    def wait_for_marker(self):
        """Echoes the process's lines up to its next marker (or its end)."""
        for line in self.proc.stdout:
            if line.startswith("#step") or line.startswith("#sample"):
                self.case_over = line.startswith("#step")
                return
            sys.stdout.write(line)
            sys.stdout.flush()
        self.done = True
        self.case_over = True

    def run_next(self):
        """Lets the process run up to its next marker."""
        if self.done:
            return
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.done = True
            self.case_over = True
            return
        self.wait_for_marker()


def main(argv):
    torch_first = "--torch-first" in argv[:argv.index("--")]
    rest = argv[argv.index("--") + 1:]
    cut = rest.index("---")
    ark, torch = Side(rest[:cut]), Side(rest[cut + 1:])
    case_first, case_second = (torch, ark) if torch_first else (ark, torch)
    while not (ark.done and torch.done):
        # One case: both leave their "#step", then take turns until both are back at one.
        first, second = case_first, case_second
        first.run_next()
        second.run_next()
        while not (first.case_over and second.case_over):
            first, second = second, first
            for side in (first, second):
                if not side.case_over:
                    side.run_next()
        case_first, case_second = case_second, case_first
    codes = [side.proc.wait() for side in (ark, torch)]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
