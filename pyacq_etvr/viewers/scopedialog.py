"""Settings dialog of the oscilloscope (pyacq's ``with_user_dialog``): a parameter tree over its params.

Every edit goes through the widget's validated ``params`` / ``by_channel_params``: a value they refuse is
put back in the tree and the reason is shown under it, so the dialog can never leave the widget in a state
the API would refuse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.viewers._qt import QtCore, QtWidgets, pg
from pyacq_etvr.viewers.scopewidget import DECIMATION_METHODS

if TYPE_CHECKING:
    from pyacq_etvr.viewers.scopewidget import OscilloscopeWidget

#: global params shown in the dialog (ylim_* and background_color stay API-only)
DIALOG_GLOBALS = ("xsize", "refresh_interval", "decimation_method", "show_bottom_axis", "show_left_axis")


def _tree_spec(widget: OscilloscopeWidget) -> list[dict[str, Any]]:
    p = widget.params
    glob = [
        {"name": "xsize", "type": "float", "value": p["xsize"], "suffix": "s", "step": 0.5},
        {"name": "refresh_interval", "type": "int", "value": p["refresh_interval"], "suffix": "ms"},
        {"name": "decimation_method", "type": "list", "limits": list(DECIMATION_METHODS)},
        {"name": "show_bottom_axis", "type": "bool", "value": p["show_bottom_axis"]},
        {"name": "show_left_axis", "type": "bool", "value": p["show_left_axis"]},
    ]
    glob[2]["value"] = p["decimation_method"]
    chans = []
    for name in widget.channel_names:
        ch = widget.by_channel_params
        chans.append(
            {
                "name": name,
                "type": "group",
                "children": [
                    {"name": "gain", "type": "float", "value": ch[name, "gain"], "step": 0.1},
                    {"name": "offset", "type": "float", "value": ch[name, "offset"], "step": 0.1},
                    {"name": "visible", "type": "bool", "value": ch[name, "visible"]},
                    {"name": "color", "type": "color", "value": pg.mkColor(ch[name, "color"])},
                ],
            }
        )
    return [
        {"name": "global", "type": "group", "children": glob},
        {"name": "channels", "type": "group", "children": chans},
    ]


class ScopeSettingsDialog(QtWidgets.QDialog):
    """Edit an :class:`OscilloscopeWidget`'s params in a pyqtgraph parameter tree (GUI thread only)."""

    def __init__(self, widget: OscilloscopeWidget, parent: QtWidgets.QWidget | None = None) -> None:
        from pyqtgraph.parametertree import Parameter, ParameterTree

        super().__init__(parent)
        self.setWindowTitle("Oscilloscope settings")
        self.widget = widget
        self.root = Parameter.create(name="settings", type="group", children=_tree_spec(widget))
        self.tree = ParameterTree(showHeader=False)
        self.tree.setParameters(self.root, showTop=False)
        self.message = QtWidgets.QLabel("")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addWidget(self.message)
        self.resize(360, 520)
        self.root.sigTreeStateChanged.connect(self._on_change)
        self.refused = 0
        self._reverting = False

    def parameter(self, *path: str) -> Any:
        """The tree item at ``path``, e.g. ``('global', 'xsize')`` or ``('channels', 'ch0', 'gain')``."""
        return self.root.child(*path)

    def _on_change(self, _root: Any, changes: list[tuple[Any, str, Any]]) -> None:
        if self._reverting:
            return
        for param, change, value in changes:
            if change != "value":
                continue
            path = self.root.childPath(param)
            try:
                if path[0] == "global":
                    self.widget.params[path[1]] = value
                else:
                    if path[2] == "color":
                        value = tuple(int(c) for c in pg.mkColor(value).getRgb()[:3])
                    self.widget.by_channel_params[path[1], path[2]] = value
            except ConfigError as exc:
                self.refused += 1
                self.message.setText(str(exc))
                # put the accepted value back once the editor has finished its own update
                QtCore.QTimer.singleShot(0, lambda param=param, path=path: self._revert(param, path))
            else:
                self.message.setText("")

    def _revert(self, param: Any, path: list[str]) -> None:
        if path[0] == "global":
            old = self.widget.params[path[1]]
        else:
            old = self.widget.by_channel_params[path[1], path[2]]
            if path[2] == "color":
                old = pg.mkColor(old)
        self._reverting = True
        try:
            param.setValue(old)
        finally:
            self._reverting = False
