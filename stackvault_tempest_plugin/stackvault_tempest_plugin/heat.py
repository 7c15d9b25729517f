"""Heat's own answers, through its REST API (openstacksdk's proxy).

Raw calls keep Heat's field names, which are the datasource's column
names; openstacksdk's typed objects would rename or drop some of them.
"""

from urllib import parse

from stackvault_tempest_plugin import waits


class HeatError(AssertionError):
    pass


class Heat:
    def __init__(self, conn, timeout, add_cleanup):
        self.proxy = conn.orchestration
        self.timeout = timeout
        self.add_cleanup = add_cleanup

    # -- reading ------------------------------------------------------------
    def get(self, path, **params):
        response = self.proxy.get(path, params=params or None)
        if response.status_code >= 300:
            raise HeatError(f"GET {path}: HTTP {response.status_code} "
                            f"{response.text[:300]}")
        return response.json()

    def stack(self, name, stack_id):
        return self.get(f"/stacks/{name}/{stack_id}")["stack"]

    def resources(self, name, stack_id, nested_depth):
        return self.get(f"/stacks/{name}/{stack_id}/resources",
                        nested_depth=nested_depth)["resources"]

    def resource(self, owner_path, resource_name):
        """A resource's show; ``owner_path`` is its own stack's path."""
        quoted = parse.quote(resource_name, safe="")
        return self.get(f"{owner_path}/resources/{quoted}")["resource"]

    def events(self, name, stack_id, nested_depth):
        return self.get(f"/stacks/{name}/{stack_id}/events",
                        nested_depth=nested_depth)["events"]

    def snapshots(self, name, stack_id):
        return self.get(f"/stacks/{name}/{stack_id}/snapshots")["snapshots"]

    def software_config(self, config_id):
        return self.get(f"/software_configs/{config_id}")["software_config"]

    def software_deployment(self, deployment_id):
        return self.get(f"/software_deployments/{deployment_id}")[
            "software_deployment"]

    # -- creating (each registers its own deletion) ---------------------------
    def _send(self, method, path, body):
        response = getattr(self.proxy, method)(path, json=body)
        if response.status_code >= 300:
            raise HeatError(f"{method.upper()} {path}: HTTP "
                            f"{response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def create_stack(self, name, template, files=None, parameters=None,
                     tags=None):
        """Ask Heat for a stack; return its id without waiting (see
        :meth:`wait_created`)."""
        body = {"stack_name": name, "template": template,
                "files": files or {}, "parameters": parameters or {},
                "timeout_mins": 5}
        if tags:
            body["tags"] = ",".join(tags)
        stack_id = self._send("post", "/stacks", body)["stack"]["id"]
        self.add_cleanup(self.delete_stack, name, stack_id)
        return stack_id

    def wait_created(self, name, stack_id):
        self._wait_stack(name, stack_id, "CREATE_COMPLETE", "CREATE_FAILED")

    def _wait_stack(self, name, stack_id, done, failed):
        def check():
            stack = self.stack(name, stack_id)
            if stack["stack_status"] == failed:
                raise HeatError(f"stack {name}: {failed}: "
                                f"{stack['stack_status_reason']}")
            return stack["stack_status"] == done
        waits.wait_for(check, self.timeout, f"stack {name} to be {done}")

    def delete_stack(self, name, stack_id):
        path = f"/stacks/{name}/{stack_id}"
        response = self.proxy.delete(path)
        if response.status_code == 404:
            return

        def gone():
            r = self.proxy.get(path)
            return r.status_code == 404 or r.json()["stack"][
                "stack_status"] == "DELETE_COMPLETE"
        waits.wait_for(gone, self.timeout, f"stack {name} to be deleted")

    def snapshot(self, name, stack_id, snapshot_name):
        path = f"/stacks/{name}/{stack_id}/snapshots"
        snapshot_id = self._send("post", path, {"name": snapshot_name})["id"]

        def complete():
            for found in self.snapshots(name, stack_id):
                if found["id"] == snapshot_id:
                    if found["status"] == "FAILED":
                        raise HeatError(f"snapshot {snapshot_name} failed: "
                                        f"{found['status_reason']}")
                    return found["status"] == "COMPLETE"
            return False
        waits.wait_for(complete, self.timeout,
                       f"snapshot {snapshot_name} to be COMPLETE")
        self._wait_stack(name, stack_id, "SNAPSHOT_COMPLETE",
                         "SNAPSHOT_FAILED")
        return snapshot_id

    def deployment(self, config_id, server_id, inputs, outputs):
        """A software deployment, COMPLETE with ``outputs`` signalled."""
        created = self._send("post", "/software_deployments", {
            "config_id": config_id, "server_id": server_id,
            "action": "CREATE", "status": "IN_PROGRESS",
            "input_values": inputs})["software_deployment"]
        self.add_cleanup(self.proxy.delete,
                         f"/software_deployments/{created['id']}")
        self._send("put", f"/software_deployments/{created['id']}", {
            "output_values": outputs, "status": "COMPLETE",
            "status_reason": "signalled by the stackvault tempest plugin"})
        return created["id"]
