"""One screen per pane (Nodes, Ping matrix, Rank table, Launch) plus dialogs."""
