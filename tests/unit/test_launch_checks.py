"""Launch preflight helpers that need no server: busy NPUs, inventory vs plan."""

from __future__ import annotations

from console.core.inventory import Device, Inventory, Server
from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile
from console.core.ranktable.model import RankTable
from console.ops.launch_checks import busy_devices, check_inventory, inventory_server


def test_busy_devices_from_the_npu_smi_process_table(data_dir) -> None:
    busy = busy_devices((data_dir / "npu_smi_info_a2.txt").read_text(), None)
    assert busy == {1: ["2214871 python3"]}
    assert busy_devices("not npu-smi output", None) == {}


def test_inventory_entry_is_the_one_the_server_check_uses() -> None:
    """--host maps server s0 to h2; the inventory also knows an h1 whose server_id is s0.
    Both checks must look at h2 (the machine the ranks will run on)."""
    table = RankTable.model_validate(
        {
            "status": "completed",
            "version": "1.0",
            "server_count": "1",
            "server_list": [
                {"server_id": "s0", "device": [{"device_id": "0", "device_ip": "10.0.0.1", "rank_id": "0"}]}
            ],
        }
    )
    plan = build_launch_plan(table, Profile(name="custom"), args=["x"], hosts={"s0": "h2"})
    inventory = Inventory(
        servers=[
            Server(host="h1", server_id="s0", devices=[Device(device_id=0, device_ip="10.9.9.9")]),
            Server(host="h2", server_id="10.0.0.2", devices=[Device(device_id=0, device_ip="10.0.0.1")]),
        ]
    )
    assert inventory_server(inventory, plan.servers[0]).host == "h2"
    assert check_inventory(plan, inventory) == []
    inventory.servers[1].devices[0].device_ip = "10.0.0.7"
    [problem] = check_inventory(plan, inventory)
    assert "10.0.0.7" in problem.message and problem.severity == "error"
