"""An RTSP server on loopback for the live tests (GStreamer's gst-rtsp-server, as IP cameras
and studio gateways serve RTSP): a test picture as H.264 and a tone as AAC at
rtsp://127.0.0.1:<port>/cam, over RTP interleaved in the RTSP connection or over UDP.
Prints the port on its first line, then serves until it is killed or its stdin closes.

Run with Debian's python3 (python3-gi, gir1.2-gst-rtsp-server-1.0 and GStreamer's base,
good, ugly and bad plugins: scripts/test installs them).
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true pattern=smpte "
    "! video/x-raw,width=640,height=360,framerate=25/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bframes=0 "
    "! rtph264pay name=pay0 pt=96 config-interval=-1 "
    "audiotestsrc is-live=true freq=500 "
    "! audio/x-raw,rate=44100,channels=2 ! voaacenc bitrate=96000 "
    "! rtpmp4gpay name=pay1 pt=97 )"
)


def main() -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    server.attach(None)
    print(server.get_bound_port(), flush=True)
    loop = GLib.MainLoop()
    # The test ends the server by closing its stdin (or killing it).
    GLib.io_add_watch(sys.stdin, GLib.IO_HUP | GLib.IO_IN, lambda *_: loop.quit())
    loop.run()


if __name__ == "__main__":
    main()
