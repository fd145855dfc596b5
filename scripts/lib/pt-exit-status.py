#!/usr/bin/env python3
"""pt-exit-status.py DIR SERVER [ARGS...]

Goes between tor and a managed PT so that a test can see how the PT ended: tor does not wait for
its PT when it exits, and the orphan's exit status is lost. Runs SERVER with our stdin, stdout,
stderr and environment (all from tor), forwards SIGTERM/SIGINT to it, writes its pid to
DIR/pt.pid and, once it is gone, its exit status to DIR/pt.status (128+N if killed by signal N).
waitpid(2) is restarted after every signal, so a second SIGTERM cannot lose the status (a bash
`wait` can)."""
import os
import signal
import sys


def main():
    out_dir, argv = sys.argv[1], sys.argv[2:]
    pending = []
    signal.signal(signal.SIGTERM, lambda sig, frame: pending.append(sig))
    signal.signal(signal.SIGINT, lambda sig, frame: pending.append(sig))
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execvp(argv[0], argv)

    def forward(sig, frame):
        try:
            os.kill(child, sig)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for sig in pending:
        forward(sig, None)
    with open(os.path.join(out_dir, "pt.pid"), "w") as f:
        f.write(f"{child}\n")
    _, status = os.waitpid(child, 0)
    rc = os.waitstatus_to_exitcode(status)
    if rc < 0:
        rc = 128 - rc
    with open(os.path.join(out_dir, "pt.status"), "w") as f:
        f.write(f"{rc}\n")
    sys.exit(rc)


if __name__ == "__main__":
    main()
