import pytest

from console.core.errors import InputError
from console.core.hosts import HostTarget, fold, parse_hostfile, parse_hosts


def names(targets):
    return [str(t) for t in targets]


def test_nodeset_ranges_keep_padding_and_order():
    assert names(parse_hosts("node[01-03]")) == ["node01", "node02", "node03"]
    assert names(parse_hosts("10.0.0.[1-4]")) == [f"10.0.0.{i}" for i in range(1, 5)]


def test_several_items_order_as_written_and_deduplicated():
    hosts = parse_hosts("b1, a[1-2] b1 a1,c")
    assert names(hosts) == ["b1", "a1", "a2", "c"]


def test_comma_inside_brackets_is_part_of_the_range():
    assert names(parse_hosts("n[1,3-4]")) == ["n1", "n3", "n4"]


def test_user_and_port_apply_to_every_expanded_host():
    hosts = parse_hosts("root@node[1-2]:2222")
    assert hosts == [HostTarget(host="node1", user="root", port=2222), HostTarget(host="node2", user="root", port=2222)]
    assert str(hosts[0]) == "root@node1:2222"


def test_ipv6_items():
    assert parse_hosts("[::1]:2200") == [HostTarget(host="::1", port=2200)]
    assert parse_hosts("fe80::1") == [HostTarget(host="fe80::1")]


@pytest.mark.parametrize("bad", ["node[1-", "node[3-1]", "root@", "h:99999"])
def test_bad_expression_quotes_the_bad_part(bad):
    with pytest.raises(InputError) as exc:
        parse_hosts(f"good1 {bad}")
    assert bad.rstrip("@") in str(exc.value) or bad in str(exc.value)
    assert "good1" not in str(exc.value)


def test_hostfile_with_comments_and_deepspeed_slots():
    text = "# cluster A\nworker-1 slots=8\n\nworker-[2-3]  # rack 2\n10.0.0.9 slots = 16\n"
    files = {"hosts.txt": text}
    assert names(parse_hosts("@hosts.txt,extra", read_file=files.__getitem__)) == [
        "worker-1",
        "worker-2",
        "worker-3",
        "10.0.0.9",
        "extra",
    ]


def test_hostfile_bad_line_names_file_and_line():
    with pytest.raises(InputError) as exc:
        parse_hostfile("ok\nbad max_slots=2\n", "hosts.txt")
    assert "hosts.txt:2" in str(exc.value)


def test_hostfile_needs_a_reader():
    with pytest.raises(InputError):
        parse_hosts("@file")


def test_empty_is_an_error():
    with pytest.raises(InputError):
        parse_hosts(" , ")


def test_fold_like_clush():
    assert fold(["127.0.0.11", "127.0.0.12", "127.0.0.14"]) == "127.0.0.[11-12,14]"


def test_hostfile_bad_expression_names_file_and_line():
    files = {"hf": "127.0.0.11\n\n# comment\n127.0.0.[\n"}
    with pytest.raises(InputError) as exc:
        parse_hosts("@hf", read_file=files.__getitem__)
    assert str(exc.value).startswith("hf:4: bad host expression: '127.0.0.['")
    assert exc.value.path == "hf:4"


def test_hostfile_bad_item_later_on_a_line_names_that_line():
    files = {"hosts.txt": "a1,a2\nb1,root@\n"}
    with pytest.raises(InputError) as exc:
        parse_hosts("@hosts.txt", read_file=files.__getitem__)
    assert str(exc.value).startswith("hosts.txt:2: bad host expression")


def test_hostfile_words_separated_by_spaces_are_a_typo_not_two_hosts():
    files = {"hosts.txt": "127.0.0.11\nbad host\n"}
    with pytest.raises(InputError) as exc:
        parse_hosts("@hosts.txt", read_file=files.__getitem__)
    assert str(exc.value).startswith("hosts.txt:2: bad hostfile line: 'bad host'")
