#!/usr/bin/env python3
"""The summary of bench/streams-vs-peer.sh, from the files it leaves in its directory.

    streams-summary.py DIR ROUNDS CONC BIG SETTINGS

Per tool and round, from TAG.usage.json (bench/tree-usage.py), TAG.target.json (the target's
own counters over the run) and TAG.report.json (the tool's report): the streams held at once,
completed and failed; CPU per SSE event, over the whole run and marginal (the run twice as long
less this one, over the events it had more); memory per open stream; TTFT and inter-event medians and p99. Prints medians over the rounds with their
spread, and the per-round ratios ratecheck/peer.
"""

import json
import os
import statistics
import sys

TOOLS = ("ratecheck", "guidellm")


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def tool_figures(name, rep):
    """Successes, failures, TTFT and inter-event p50/p99 as the tool reports them."""
    if rep is None:
        return None
    if name == "ratecheck":
        lat = rep["latency"]
        req = rep["requests"]
        return {
            "ok": req["succeeded"],
            "failed": req["failed"],
            "cut": 0,
            "ttft": (lat["ttft"]["p50"], lat["ttft"]["p99"]),
            "itl": (lat["inter_event_gap"]["p50"], lat["inter_event_gap"]["p99"]),
        }
    b = rep["benchmarks"][0]
    made = b["scheduler_metrics"]["requests_made"]
    m = b["metrics"]

    def pct(metric):
        s = m[metric]["successful"]
        return (s["median"], s["percentiles"]["p99"])

    return {
        "ok": made["successful"],
        "failed": made["errored"],
        "cut": made["incomplete"],
        "ttft": pct("time_to_first_token_ms"),
        "itl": pct("inter_token_latency_ms"),
    }


def figures(d, name, tag_c, tag_1, conc):
    """TAG_C is the run at CONC streams, TAG_C.long the same twice as long, TAG_1 one stream."""
    u, u1, ul = (load(f"{d}/{t}.usage.json") for t in (tag_c, tag_1, f"{tag_c}.long"))
    t, t1, tl = (load(f"{d}/{t}.target.json") for t in (tag_c, tag_1, f"{tag_c}.long"))
    rep = tool_figures(name, load(f"{d}/{tag_c}.report.json"))
    if not (u and u1 and t and t1):
        return None
    cpu = u["user_s"] + u["sys_s"]
    ev = t["events_written"]
    marginal = None
    if ul and tl and tl["events_written"] > ev:
        marginal = (ul["user_s"] + ul["sys_s"] - cpu) / (tl["events_written"] - ev) * 1e6
    return {
        "held": t["most_open"],
        "begun": t["streams_begun"],
        "ended": t["streams_ended"],
        "events": ev,
        "cpu_s": cpu,
        "us_per_event": cpu / ev * 1e6 if ev else None,
        "marginal_us": marginal,
        "rss_mib": u["peak_tree_rss_kib"] / 1024,
        "pss_mib": u["peak_tree_pss_kib"] / 1024,
        "rss1_mib": u1["peak_tree_rss_kib"] / 1024,
        "kib_per_stream": (u["peak_tree_rss_kib"] - u1["peak_tree_rss_kib"]) / conc,
        "pss_kib_per_stream": (u["peak_tree_pss_kib"] - u1["peak_tree_pss_kib"]) / conc,
        "procs": u["most_processes"],
        "wall_s": u["wall_s"],
        "exit": u["exit"],
        "target_cpu_share": t["cpu_s"] / t["wall_s"] if t["wall_s"] else None,
        "target_first": (t["first_chunk_ms"]["p50"], t["first_chunk_ms"]["p99"]),
        "target_gap": (t["gap_ms"]["p50"], t["gap_ms"]["p99"]),
        "target_late": (t["lateness_ms"]["p50"], t["lateness_ms"]["p99"]),
        "tool": rep,
    }


def spread(xs, fmt="{:,.1f}"):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    med = statistics.median(xs)
    if len(xs) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


def pair(xs, i, fmt="{:.1f}"):
    return spread([x[i] if x else None for x in xs], fmt)


def show(name, runs, conc):
    runs = [r for r in runs if r]
    if not runs:
        print(f"  {name}: no complete run")
        return
    tool = [r["tool"] for r in runs]
    print(f"  {name} ({len(runs)} runs, exit {sorted({r['exit'] for r in runs})}, "
          f"up to {max(r['procs'] for r in runs)} processes):")
    print(f"    streams held at once (target): {spread([r['held'] for r in runs], '{:,.0f}')} of {conc:,}; "
          f"streams completed (target) {spread([r['ended'] for r in runs], '{:,.0f}')}, "
          f"begun {spread([r['begun'] for r in runs], '{:,.0f}')}")
    if all(tool):
        print(f"    tool's own count: succeeded {spread([x['ok'] for x in tool], '{:,.0f}')}, "
              f"failed {spread([x['failed'] for x in tool], '{:,.0f}')}, "
              f"cut at the end {spread([x['cut'] for x in tool], '{:,.0f}')}")
    print(f"    SSE events written to it: {spread([r['events'] for r in runs], '{:,.0f}')}; "
          f"CPU {spread([r['cpu_s'] for r in runs], '{:.2f}')} s")
    print(f"    CPU per event: {spread([r['us_per_event'] for r in runs], '{:.2f}')} µs whole run; "
          f"{spread([r['marginal_us'] for r in runs], '{:.2f}')} µs marginal")
    print(f"    peak RSS {spread([r['rss_mib'] for r in runs])} MiB (Pss {spread([r['pss_mib'] for r in runs])}), "
          f"one stream {spread([r['rss1_mib'] for r in runs])} MiB: "
          f"{spread([r['kib_per_stream'] for r in runs])} KiB per stream "
          f"(Pss {spread([r['pss_kib_per_stream'] for r in runs])})")
    if all(tool):
        print(f"    TTFT p50 {pair([x['ttft'] for x in tool], 0, '{:.2f}')} ms, "
              f"p99 {pair([x['ttft'] for x in tool], 1, '{:.2f}')} ms; "
              f"inter-event p50 {pair([x['itl'] for x in tool], 0, '{:.2f}')} ms, "
              f"p99 {pair([x['itl'] for x in tool], 1, '{:.2f}')} ms")
    print(f"    the target's record: first chunk p50 {pair([r['target_first'] for r in runs], 0, '{:.2f}')} ms, "
          f"p99 {pair([r['target_first'] for r in runs], 1, '{:.2f}')}; gap p50 "
          f"{pair([r['target_gap'] for r in runs], 0, '{:.2f}')}, p99 {pair([r['target_gap'] for r in runs], 1, '{:.2f}')}; "
          f"lateness p50 {pair([r['target_late'] for r in runs], 0, '{:.2f}')}, p99 {pair([r['target_late'] for r in runs], 1, '{:.2f}')}; "
          f"its CPU {spread([r['target_cpu_share'] for r in runs], '{:.2f}')} of a core")


def main():
    d, rounds, conc, big, settings = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    print(f"target bench/sse-target.py ({settings}); {rounds} interleaved rounds at {conc:,} streams, "
          "baseline 1 stream")
    by = {}
    for name in TOOLS:
        by[name] = [figures(d, name, f"{name}.{conc}.{r}", f"{name}.1.{r}", conc) for r in range(1, rounds + 1)]
        show(name, by[name], conc)
    ratios = [
        a["marginal_us"] / b["marginal_us"]
        for a, b in zip(by["ratecheck"], by["guidellm"])
        if a and b and a["marginal_us"] and b["marginal_us"]
    ]
    whole = [
        a["us_per_event"] / b["us_per_event"]
        for a, b in zip(by["ratecheck"], by["guidellm"])
        if a and b and a["us_per_event"] and b["us_per_event"]
    ]
    print(f"  CPU per event ratecheck/guidellm, per round: whole {spread(whole, '{:.3f}')}, "
          f"marginal {spread(ratios, '{:.3f}')}")
    if big and os.path.exists(f"{d}/big.{big}.usage.json"):
        print(f"one ratecheck process at {big:,} streams:")
        show("ratecheck", [figures(d, "ratecheck", f"big.{big}", "big.1", big)], big)
    return 0


if __name__ == "__main__":
    sys.exit(main())
