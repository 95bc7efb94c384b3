from rayswarm.graphs.tables import format_table


def test_columns_align_and_numbers_are_right_aligned():
    table = format_table(["system", "score"], [["codes alone", 0.5], ["chain", 0.875]], title="toy:mixed")
    lines = table.splitlines()
    assert lines[0] == "toy:mixed"
    assert lines[1] == "system       score" and lines[2] == "-----------  -----"
    assert lines[3] == "codes alone  0.500" and lines[4] == "chain        0.875"


def test_missing_cells_are_blank():
    lines = format_table(["a", "b"], [["x", None], ["y", 2]]).splitlines()
    assert lines[2].rstrip() == "x" and lines[3] == "y  2"
