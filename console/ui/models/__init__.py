"""The panes' models: pure state (no textual import, enforced by tests/unit/test_layers.py).

Each pane has one model with ``apply(event)``, which dispatches with ``match`` over the ops
layer's typed event union (``DiscoveryEvent``, ``SweepEvent``, ``LaunchEvent``), and a
``changes`` counter that every change bumps; ``console.ui.feed.EventFeed`` feeds it and
redraws the pane (once per frame at most) when the counter moved. Screens only compose
widgets, declare bindings and render their model.
"""
