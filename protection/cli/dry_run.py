"""``stackvault restore CP --dry-run``: print what the restore would do.

The table format prints the plan (stages of resources that may run in
parallel, each resource's steps), the excluded resources, every mapping
and every pre-flight check with its verdict; ``-f json``/``yaml`` print
the :class:`protection.restore.preflight.Report` as a document. Exit 0 when
every check passes, 1 otherwise (the failing checks are named on stderr).
"""

from protection.cli import output


def _plan_rows(report):
    rows = []
    for number, stage in enumerate(report.stages, 1):
        for resource in stage:
            label = f"{resource.type}#{resource.id}"
            name = f" ({resource.name})" if resource.name else ""
            rows.append((number, label + name,
                         ", ".join(report.steps.get(label, []))))
    return rows


def _table(report):
    parts = ["Plan (resources of one stage run in parallel):",
             output.render_list(["Stage", "Resource", "Steps"],
                                _plan_rows(report), "table")]
    if report.excluded:
        parts += ["Excluded (not restored):", output.render_list(
            ["Resource", "Needed by"],
            [(e["resource"], ", ".join(e["needed_by"]) or "-")
             for e in report.excluded], "table")]
    parts += ["Mappings:", output.render_list(
        ["Resource", "What", "Original", "Target"],
        [(m.resource, m.what, m.original, m.target)
         for m in report.mappings], "table")]
    parts += ["Pre-flight checks:", output.render_list(
        ["Verdict", "Check", "Resource", "Detail"],
        [(c.verdict.upper(), c.name, c.resource or "-", c.detail)
         for c in report.checks], "table")]
    return "\n".join(parts)


def show(app, report, fmt):
    """Print ``report``; return the exit code (0: every check passes)."""
    if fmt in ("json", "yaml"):
        app.print(output.render_one(report.to_dict(), fmt))
    else:
        app.print(_table(report))
    if report.ok:
        return 0
    failing = output.one_line("; ".join(str(c) for c in report.failing))
    app.stderr.write(f"stackvault: dry-run: {len(report.failing)} "
                     f"pre-flight check(s) fail: {failing}\n")
    return 1
