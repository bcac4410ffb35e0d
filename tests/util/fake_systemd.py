#!/usr/bin/python3
"""A small fake systemd manager on a (private) D-Bus, served by libdbus
(python3-dbus), an implementation independent of grokmon's client.

Usage: fake_systemd.py PROPS.json   (with DBUS_SESSION_BUS_ADDRESS set)
       fake_systemd.py PROPS.json --private PATH
             (peer to peer on a socket at PATH, as systemd's private
             socket: no bus, no Hello; each connection gets the units)

PROPS.json: {"unit": "grokmon.service",
             "Unit": {"Name": ["s", "grokmon.service"], ...},
             "Service": {"NRestarts": ["u", 2], ...}}
Every value is [D-Bus signature, JSON value]. The named unit answers
org.freedesktop.DBus.Properties.GetAll on its object path for
org.freedesktop.systemd1.Unit and .Service; any other unit path answers
LoadState=not-found, as systemd does for a unit it cannot load. Prints
"ready" once the name org.freedesktop.systemd1 is owned (or the private
socket listens).
"""
import json
import sys

import dbus
import dbus.server
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

BASIC = {
    "s": dbus.String, "o": dbus.ObjectPath, "g": dbus.Signature,
    "b": dbus.Boolean, "y": dbus.Byte, "n": dbus.Int16, "q": dbus.UInt16,
    "i": dbus.Int32, "u": dbus.UInt32, "x": dbus.Int64, "t": dbus.UInt64,
    "d": dbus.Double,
}


def split_types(sig):
    """Splits a signature into its complete types."""
    out, i = [], 0
    while i < len(sig):
        j = end_of(sig, i)
        out.append(sig[i:j])
        i = j
    return out


def end_of(sig, i):
    c = sig[i]
    if c == "a":
        return end_of(sig, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        j = i + 1
        while sig[j] != close:
            j = end_of(sig, j)
        return j + 1
    return i + 1


def typed(sig, v):
    if sig in BASIC:
        return BASIC[sig](v)
    if sig.startswith("a"):
        elem = sig[1:]
        return dbus.Array([typed(elem, x) for x in v], signature=elem)
    if sig.startswith("("):
        inner = split_types(sig[1:-1])
        return dbus.Struct([typed(t, x) for t, x in zip(inner, v)], signature=sig[1:-1])
    raise ValueError(sig)


def escape(name):
    return "".join(c if c.isalnum() and c.isascii() else "_%02x" % ord(c) for c in name)


class Units(dbus.service.FallbackObject):
    def __init__(self, bus, props):
        super().__init__(bus, "/org/freedesktop/systemd1/unit")
        self.props = props
        self.path = "/" + escape(props["unit"])

    @dbus.service.method("org.freedesktop.DBus.Properties", in_signature="s",
                         out_signature="a{sv}", rel_path_keyword="rel")
    def GetAll(self, iface, rel):
        if rel != self.path:
            if iface == "org.freedesktop.systemd1.Unit":
                return {"LoadState": dbus.String("not-found", variant_level=1),
                        "ActiveState": dbus.String("inactive", variant_level=1)}
            raise dbus.exceptions.DBusException(
                "unit not loaded", name="org.freedesktop.systemd1.NoSuchUnit")
        section = iface.rsplit(".", 1)[-1]
        return {k: typed(s, v) for k, (s, v) in self.props.get(section, {}).items()}


class Private(dbus.server.Server):
    """systemd's private socket: every peer gets the unit objects."""

    def __new__(cls, address, props):
        return super().__new__(cls, address)

    def __init__(self, address, props):
        super().__init__(address)
        self.props = props
        self.served = []

    def connection_added(self, conn):
        super().connection_added(conn)
        self.served.append(Units(conn, self.props))


def main():
    props = json.load(open(sys.argv[1]))
    DBusGMainLoop(set_as_default=True)
    if sys.argv[2:3] == ["--private"]:
        server = Private("unix:path=" + sys.argv[3], props)
        print("ready", flush=True)
        GLib.MainLoop().run()
        del server
        return
    bus = dbus.SessionBus()
    name = dbus.service.BusName("org.freedesktop.systemd1", bus)
    units = Units(bus, props)
    print("ready", flush=True)
    GLib.MainLoop().run()
    del name, units


if __name__ == "__main__":
    main()
