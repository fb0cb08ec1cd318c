"""Cluster specs of the simulator: default, generator, TOML loading, fault folding, errors."""

from __future__ import annotations

import pytest

from console.core.errors import InputError
from console.sim.spec import ClusterSpec


def all_ips(spec: ClusterSpec) -> list[str]:
    return [ip for s in spec.servers for d in s.devices for ip in (d.ip, d.vnic_ip, d.ipv6) if ip]


def test_default_spec_is_the_mindie_guide_cluster() -> None:
    spec = ClusterSpec.default()
    assert [s.address for s in spec.servers] == ["127.0.0.11", "127.0.0.12"]
    assert [d.ip for d in spec.servers[0].devices] == [f"10.10.100.{n}" for n in range(10, 18)]
    assert [d.ip for d in spec.servers[1].devices] == [f"10.10.100.{n}" for n in range(22, 30)]
    (loss,) = spec.faults
    assert loss.kind == "loss" and loss.percent == 33.33 and loss.lost_seqs == [0]
    assert spec.server(loss.src).name == "node01" and spec.server(loss.dst).name == "node02"
    assert {d.tls for s in spec.servers for d in s.devices} == {0}


def test_generate_64_servers_has_unique_addresses_and_device_ips() -> None:
    spec = ClusterSpec.generate(servers=64)
    assert spec.servers[0].address == "127.0.0.11"
    assert spec.servers[-1].address == "127.0.0.74"
    ips = all_ips(spec)
    assert len(ips) == 64 * 8 == len(set(ips))


def test_generate_a3_has_16_devices_as_8_cards_of_2_dies() -> None:
    spec = ClusterSpec.generate(servers=2, product="A3")
    devs = spec.servers[1].devices
    assert len(devs) == 16
    assert [(d.card_id, d.chip_id) for d in devs[:4]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(d.vnic_ip and d.super_device_id is not None for d in devs)
    assert spec.servers[0].super_pod_id == "0"
    assert len(set(all_ips(spec))) == len(all_ips(spec)) == 2 * 16 * 2


def test_generate_refuses_too_many_cards() -> None:
    with pytest.raises(ValueError, match="cards must be"):
        ClusterSpec.generate(servers=1, cards=9, product="A3")


def test_toml_with_explicit_servers_and_static_faults() -> None:
    spec = ClusterSpec.from_toml("""
        ping_probe_s = 0.5
        [[servers]]
        name = "a"
        address = "127.0.0.31"
        cards = 4
        [[servers]]
        name = "b"
        address = "127.0.0.32"
        cards = 4
        [[faults]]
        kind = "link_down"
        server = "b"
        device = 2
        [[faults]]
        kind = "version"
        server = "127.0.0.31"
        driver = "23.0.rc2"
        [[faults]]
        kind = "tls"
        server = 2
        [[faults]]
        kind = "conf_mismatch"
        server = "a"
        device = 1
        address = "10.9.9.9"
    """)
    a, b = spec.servers
    assert len(a.devices) == 4 and spec.ping_probe_s == 0.5
    assert b.device(2).link == "DOWN" and b.device(2).net_health == "Fault"
    assert b.device(1).link == "UP"
    assert a.driver_version == "23.0.rc2" and b.driver_version == "24.1.rc3"
    assert {d.tls for d in b.devices} == {1} and {d.tls for d in a.devices} == {0}
    assert a.device(1).conf_address == "10.9.9.9" and a.device(1).ip != "10.9.9.9"
    # folding is idempotent: a dumped spec loads to the same spec
    assert ClusterSpec.model_validate(spec.model_dump()) == spec


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name = ", "not valid TOML"),
        ('[generate]\nservers = 2\n[[faults]]\nkind = "busy"\nserver = 5\n', "no server 5"),
        ('[generate]\nservers = 2\n[[faults]]\nkind = "hang"\nserver = 1\ndevice = 9\n', "has no device 9"),
        ('[generate]\nservers = 1\nbase_address = "10.0.0.1"\n', "not a loopback address"),
        (
            '[[servers]]\nname = "a"\naddress = "127.0.0.2"\n[[servers]]\nname = "b"\naddress = "127.0.0.2"\n',
            "duplicate server address",
        ),
        ('[generate]\nservers = 2\n[[faults]]\nkind = "wrong"\nserver = 1\n', "faults[0]"),
        ('[generate]\nservers = 2\n[[servers]]\nname = "x"\naddress = "127.0.0.9"\n', "not both"),
    ],
)
def test_bad_specs_name_the_file_and_the_problem(text: str, needle: str) -> None:
    with pytest.raises(InputError) as err:
        ClusterSpec.from_toml(text, "cluster.toml")
    assert err.value.path == "cluster.toml"
    assert needle in str(err.value)


def test_duplicate_device_ips_are_refused() -> None:
    spec = ClusterSpec.generate(servers=2, cards=2).model_dump()
    spec["servers"][1]["devices"][0]["ip"] = spec["servers"][0]["devices"][1]["ip"]
    with pytest.raises(InputError, match="used twice"):
        ClusterSpec.from_dict(spec, "x.toml")


def test_load_reports_a_missing_file(tmp_path) -> None:
    with pytest.raises(InputError) as err:
        ClusterSpec.load(tmp_path / "nope.toml")
    assert err.value.path.endswith("nope.toml")
