"""Run a command as a child and write its resource usage as JSON (used by ``measure.py``).

Usage: python -S benchmarks/launch.py RESULT.json CAP_BYTES -- COMMAND ...

The launcher is a small process on purpose: the kernel's peak-RSS figure of a process
(``ru_maxrss``) starts from the memory of the process that forked it, so a child forked by a
large benchmark process would report that process's size. Forked from here it starts at a few
MB. ``CAP_BYTES`` (0 = none) is set as the address-space limit (``RLIMIT_AS``, as ``ulimit -v``)
before the fork, so the command and its workers inherit it. The JSON holds the command's exit
code (negative: killed by that signal), user and system CPU seconds of the command and every
descendant it waited for, and its peak RSS in KiB; the launcher exits with the command's code.
"""

import json
import os
import resource
import sys


def main() -> None:
    result, cap, separator, *command = sys.argv[1:]
    if separator != "--" or not command:
        sys.exit(__doc__)
    if int(cap):
        resource.setrlimit(resource.RLIMIT_AS, (int(cap), int(cap)))
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w", encoding="utf-8") as handle:
        json.dump({"returncode": code, "user": usage.ru_utime, "system": usage.ru_stime,
                   "maxrss_kib": usage.ru_maxrss}, handle)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
