#!/usr/bin/env python3
"""Runs a command and measures its whole process tree, for tools that fork workers.

    tree-usage.py OUT.json COMMAND [ARG ...]

Every 100 ms it sums the resident memory (VmRSS) and the proportional share (Pss, shared pages
divided among the processes that share them) of the command and all its descendants, read
from /proc. At the end it writes OUT.json: the command's exit status, wall seconds, user and
system CPU seconds of the tree (the kernel's accounting of the command and every descendant
that was waited for, as /usr/bin/time reports it), the peak of the summed RSS and Pss, the
peak RSS of the largest single process, and the most processes seen at once. The command's
output goes to this script's output.
"""

import json
import os
import subprocess
import sys
import time


def children_of():
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The parent's pid is the second field after the command name, which is in parentheses.
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(root):
    kids = children_of()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def field(path, name):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out_path, cmd = sys.argv[1], sys.argv[2:]
    t0 = time.monotonic()
    child = subprocess.Popen(cmd)
    peak_rss = peak_pss = peak_one = most = 0
    status = None
    while status is None:
        pids = tree(child.pid)
        rss = [field(f"/proc/{p}/status", "VmRSS:") for p in pids]
        pss = sum(field(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
        peak_rss = max(peak_rss, sum(rss))
        peak_pss = max(peak_pss, pss)
        peak_one = max(peak_one, max(rss, default=0))
        most = max(most, sum(1 for r in rss if r))
        deadline = time.monotonic() + 0.1
        while status is None and time.monotonic() < deadline:
            pid, st, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(st)
                break
            time.sleep(0.01)
    wall = time.monotonic() - t0
    doc = {
        "exit": status,
        "wall_s": round(wall, 3),
        "user_s": round(usage.ru_utime, 3),
        "sys_s": round(usage.ru_stime, 3),
        "peak_tree_rss_kib": peak_rss,
        "peak_tree_pss_kib": peak_pss,
        "peak_process_rss_kib": max(peak_one, usage.ru_maxrss),
        "most_processes": most,
    }
    with open(out_path, "w") as f:
        json.dump(doc, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
