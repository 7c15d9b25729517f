"""Making and deleting Heat stacks, snapshots and software deployments
on a real cloud through raw Heat API calls, for the fullstack tests that
read them (the Heat datasource, the Heat stack plugin). Every object made
is registered with the test's ``cleanup``; every wait is bounded."""

TIMEOUT = 180


def json_of(response):
    """The JSON body of a Heat answer that must be a success."""
    assert response.status_code < 300, (response.status_code,
                                        response.text[:500])
    return response.json() if response.content else None


class Heat:
    """Creating and deleting what the tests read (raw Heat API calls)."""

    def __init__(self, conn, cleanup, waits):
        self.proxy = conn.orchestration
        self.cleanup = cleanup
        self.waits = waits

    def stack(self, name, template, files=None, parameters=None,
              tags=None):
        body = {"stack_name": name, "template": template,
                "files": files or {}, "parameters": parameters or {},
                "timeout_mins": 5}
        if tags:
            body["tags"] = ",".join(tags)
        created = json_of(self.proxy.post("/stacks", json=body))
        stack_id = created["stack"]["id"]
        path = f"/stacks/{name}/{stack_id}"
        self.cleanup(self.delete_stack, path)
        self.wait(path, "stack", "stack_status", "CREATE_COMPLETE",
                  "CREATE_FAILED")
        return stack_id

    def wait(self, path, key, field, done, failed):
        def check():
            found = json_of(self.proxy.get(path))[key]
            assert found[field] != failed, found
            return found if found[field] == done else None
        return self.waits.wait_for(check, TIMEOUT, 0.5,
                                   f"{path} to be {done}")

    def delete_stack(self, path):
        response = self.proxy.delete(path)
        if response.status_code == 404:
            return

        def gone():
            r = self.proxy.get(path)
            return r.status_code == 404 or r.json()["stack"][
                "stack_status"] == "DELETE_COMPLETE"
        self.waits.wait_for(gone, TIMEOUT, 0.5, f"{path} to be deleted")

    def snapshot(self, name, stack_id, snap_name):
        path = f"/stacks/{name}/{stack_id}/snapshots"
        snap = json_of(self.proxy.post(path, json={"name": snap_name}))

        def done():
            for s in json_of(self.proxy.get(path))["snapshots"]:
                if s["id"] == snap["id"]:
                    assert s["status"] != "FAILED", s
                    return s if s["status"] == "COMPLETE" else None
        return self.waits.wait_for(done, TIMEOUT, 0.5, "snapshot")

    def deployment(self, config_id, server_id):
        dep = json_of(self.proxy.post("/software_deployments", json={
            "config_id": config_id, "server_id": server_id,
            "action": "CREATE", "status": "COMPLETE",
            "status_reason": "fullstack", "input_values": {"foo": "bar"}}))
        dep_id = dep["software_deployment"]["id"]
        self.cleanup(self.proxy.delete, f"/software_deployments/{dep_id}")
        json_of(self.proxy.put(f"/software_deployments/{dep_id}", json={
            "output_values": {"result": "ok", "deploy_status_code": 0},
            "status": "COMPLETE"}))
        return dep_id
