#!/usr/bin/python3
"""Runs ark's and PyTorch's side of one benchmark group in lock-step, case by case, and prints both sides'
CSV lines (run.sh's PAIRED=1).

    paired.py [--torch-first] -- ARK_COMMAND... --- TORCH_COMMAND...

Both commands get --step: each process starts, prints "#step" and waits; this script lets one side run its
next case (setup and timing) while the other waits idle on stdin, then the other side, the first side
alternating from case to case. Each case's two figures are so taken seconds apart instead of a whole group
apart, and a slow minute of this shared machine hits one case's pair rather than one side of a whole group,
while each process keeps its state from case to case as in a plain run (a fresh process per case would not:
PyTorch's allocator then faults in new pages on every call of some shapes, which doubles their times).
"""
import subprocess
import sys


class Side:
    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd + ["--step"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     bufsize=1)
        self.done = False
        self.wait_for_step()

    def wait_for_step(self):
        """Echoes the process's lines up to its next "#step" (or its end)."""
        for line in self.proc.stdout:
            if line.startswith("#step"):
                return
            sys.stdout.write(line)
            sys.stdout.flush()
        self.done = True

    def run_next(self):
        """Lets the process run until it has reported its next case."""
        if self.done:
            return
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.done = True
            return
        self.wait_for_step()


def main(argv):
    torch_first = "--torch-first" in argv[:argv.index("--")]
    rest = argv[argv.index("--") + 1:]
    cut = rest.index("---")
    ark, torch = Side(rest[:cut]), Side(rest[cut + 1:])
    first, second = (torch, ark) if torch_first else (ark, torch)
    while not (ark.done and torch.done):
        first.run_next()
        second.run_next()
        first, second = second, first
    codes = [side.proc.wait() for side in (ark, torch)]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
