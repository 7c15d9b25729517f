"""``stackvault operation list | show ID | resume ID | abort ID``.

Every protect, restore, delete and verify is an operation, recorded in the
persistence database. One whose process died (or was interrupted) is shown
``interrupted``: ``resume`` finishes it, skipping what it finished;
``abort`` reverts it so that nothing it created is left. Both are refused
while the operation's owner process is still alive.
"""

from protection.cli import output


def register(sub, fmt):
    operation = sub.add_parser(
        "operation", help="operations: list, show, resume or abort them")
    osub = operation.add_subparsers(dest="action", metavar="ACTION",
                                    parser_class=type(operation))
    osub.required = True
    osub.add_parser("list", parents=[fmt], help="list operations")
    for action, text in (
            ("show", "show an operation: status, owner, what it created"),
            ("resume", "finish an interrupted operation"),
            ("abort", "revert an interrupted operation")):
        one = osub.add_parser(action, parents=[fmt], help=text)
        one.add_argument("operation_id", metavar="ID")


def run(app, args, run_operation):
    service = app.service
    if args.action == "list":
        rows = []
        for op in service.list_operations():
            shown = op.to_dict()
            rows.append((op.id, op.kind, op.checkpoint or "",
                         shown["status"], shown["owner"],
                         shown["heartbeat"], shown["created_at"]))
        app.print(output.render_list(
            ["ID", "Kind", "Checkpoint", "Status", "Owner", "Heartbeat",
             "Created"], rows, args.format))
        return 0
    if args.action == "show":
        app.print(output.render_one(
            service.operation(args.operation_id).to_dict(), args.format))
        return 0

    def connect(cloud):
        return app.conn(cloud)

    call = service.resume if args.action == "resume" else service.abort
    return run_operation(app, args, lambda: call(args.operation_id,
                                                 connect))
