"""Write oslo.config / paste style ini files from nested dicts."""


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


def render(sections):
    out = []
    for section, opts in sections.items():
        out.append("[%s]" % section)
        for key, val in opts.items():
            if val is None:
                continue
            out.append("%s = %s" % (key, _value(val)))
        out.append("")
    return "\n".join(out)


def write(path, sections):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(sections))
    return path
