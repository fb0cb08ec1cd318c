"""The Rank table pane's model (console.ui.models.ranktable), without textual: the file, the
edits, the raw JSON with its error position as fields, and the problems — including the rank
pairs the last ping sweep found lossy."""

from __future__ import annotations

from console.core.pingresults import PingMatrix
from console.core.planning.ping import plan_ping
from console.core.ranktable import build, dumps
from console.ui.models.links import lossy_rank_pairs
from console.ui.models.ranktable import ContextChanged, Opened, RankTableModel, RawEdited, Row
from console.ui.models.shared import RankTableFile
from tests.ui.ping_fixtures import demo_matrix, inventory


def opened(table) -> RankTableModel:
    model = RankTableModel()
    model.apply(Opened(RankTableFile(path=None, data=dumps(table).encode(), table=table, generation=1)))
    return model


def test_open_edit_undo_and_the_change_counter():
    table = build(inventory(2))
    model = opened(table)
    assert model.table == table and not model.unsaved
    changes = model.changes
    model.set_cell(Row(0, 1), "device_ip", model.table.server_list[0].device[0].device_ip)
    assert model.unsaved and model.changes > changes
    dup = [item for item, _ in model.entries() if item.severity == "error"]
    assert dup and "device_ip" in dup[0].where
    _, _, items, marks = model.grid()
    assert marks[(1, "device_ip")] == "error" and items[0].target in {(0, "device_ip"), (1, "device_ip")}
    assert model.undo() and not model.unsaved
    # the same file again (a re-read after a save) does not replace the edits
    model.apply(Opened(model.file))
    assert model.table == table


def test_raw_json_error_has_its_position_as_fields():
    model = opened(build(inventory(2)))
    model.apply(RawEdited('{\n  "status": "completed",\n  x\n}'))
    assert model.raw_error is not None and model.raw_error.target == (3, 3)
    assert model.raw_view() == [model.raw_error] and model.unsaved
    model.apply(RawEdited(None))
    assert model.raw_error is None and not model.unsaved


def test_lossy_ping_pairs_become_warnings_on_the_rank_pairs():
    inv = inventory(3)
    table = build(inv)
    matrix = demo_matrix()  # node01 dev 3 <-> node02 dev 3: 33.33 % loss; node01 <-> node03 link down
    pairs = lossy_rank_pairs(table, matrix)
    loss = [p for p in pairs if p.status == "loss"]
    assert [(p.ranks, p.loss_pct) for p in loss] == [((3, 11), 33.33)]
    assert "ranks 3 (" in loss[0].describe() and "33.33 % packet loss" in loss[0].describe()
    model = opened(table)
    before = len(model.entries())
    model.apply(ContextChanged(inv, matrix))
    warnings = [item for item, _ in model.entries() if item.code == "lossy_pair"]
    assert len(warnings) == len(pairs) and len(model.entries()) == before + len(pairs)
    assert all(item.severity == "warning" for item in warnings)
    _, _, _, marks = model.grid()
    assert marks[(3, "device_id")] == "warning" and marks[(11, "device_id")] == "warning"
    assert "vs ping of" in model.status()
    model.apply(ContextChanged(inv, PingMatrix.from_plan(plan_ping(inv, "cross"), [])))
    assert not [item for item, _ in model.entries() if item.code == "lossy_pair"]


def test_cells_come_from_the_indices_in_where_not_from_the_path_text():
    from console.core.diagnostic import Diagnostic, Where
    from console.ui.models.ranktable_problems import entries, grid_items

    table = build(inventory(2))
    model = opened(table)
    columns = model.columns()
    place = Where(path="the third card of the second server", server_index=1, device_index=2, field="device_ip")
    found = entries([Diagnostic(severity="error", code="x", message="m", where=place)])
    items, marks = grid_items(found, model.table, columns)
    row = len(table.server_list[0].device) + 2
    assert marks == {(row, "device_ip"): "error"} and items[0].target == (row, "device_ip")
    # a server's field: every row of that server, in that column
    place = Where(path="server_list[1].server_id", server_index=1, field="server_id")
    _, marks = grid_items(entries([Diagnostic(severity="warning", code="y", message="m", where=place)]), table, columns)
    first = len(table.server_list[0].device)
    assert marks == {(first + d, "server_id"): "warning" for d in range(len(table.server_list[1].device))}
