"""A real nginx on 127.0.0.1 in front of real ``datasette serve`` processes,
configured with the ``location`` blocks README.md shows (its ```` ```nginx ````
blocks, read from the file), for ``test_nginx.py``.

nginx runs in the foreground (``daemon off``) as one process
(``master_process off``), as root or not: its pid file, logs and temporary
paths are in a test folder. Needs Debian's ``nginx`` (``.ci/run`` installs
it): without it the tests skip, unless CI is set, where they fail.
"""

import os
import pathlib
import re
import shutil
import socket
import subprocess
import time

from browser import free_port, require, stop_group

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
README = pathlib.Path(__file__).parent.parent / "README.md"
README_UPSTREAM = "http://127.0.0.1:8001"  # where README's blocks send requests

CONF = """daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 256;
}}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body_temp;
    proxy_temp_path {dir}/proxy_temp;
    fastcgi_temp_path {dir}/fastcgi_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
{servers}}}
"""
SERVER = """    server {{
        listen 127.0.0.1:{port};
{location}
    }}
"""


def nginx_missing():
    return None if os.access(NGINX, os.X_OK) else "nginx is not installed"


def readme_locations():
    """README's nginx ``location`` blocks, by the path each proxies."""
    blocks = re.findall(r"^```nginx\n(.*?)^```$", README.read_text(), re.M | re.S)
    return {re.match(r"location (\S+) \{", block).group(1): block for block in blocks}


def indent(text, spaces=8):
    return "".join(" " * spaces + line if line.strip() else line for line in text.splitlines(1))


class Nginx:
    """nginx with one ``server`` per site, each on its own loopback port.

    ``sites`` maps a site's name to ``(location block, upstream URL)``: the
    block as README writes it, its upstream replaced by ``upstream``."""

    def __init__(self, directory, sites):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in sites}
        servers = "".join(
            SERVER.format(
                port=self.ports[name],
                location=indent(block.replace(README_UPSTREAM, upstream)),
            )
            for name, (block, upstream) in sites.items()
        )
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(CONF.format(dir=self.dir, servers=servers))
        self.log = open(self.dir / "stderr.log", "wb")
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-c", str(self.conf), "-e", str(self.dir / "error.log")],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        for port in self.ports.values():
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("nginx exited: %s" % self.errors())
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise
                    time.sleep(0.05)

    def url(self, site):
        return "http://127.0.0.1:%d" % self.ports[site]

    def errors(self):
        """nginx's error log (warnings included) and its own output."""
        self.log.flush()
        return "".join(
            path.read_text(errors="replace")
            for path in (self.dir / "error.log", self.dir / "stderr.log")
            if path.exists()
        )

    def temp_bytes(self):
        """Bytes in nginx's proxy temporary files: those it holds open (it
        unlinks them at once) and any left in ``proxy_temp``."""
        temp = str(self.dir / "proxy_temp")
        total = 0
        fds = "/proc/%d/fd" % self.proc.pid
        for fd in os.listdir(fds):
            try:
                if os.readlink(os.path.join(fds, fd)).startswith(temp):
                    total += os.stat(os.path.join(fds, fd)).st_size
            except OSError:
                pass  # closed meanwhile
        for folder, _, files in os.walk(temp):
            total += sum(os.path.getsize(os.path.join(folder, name)) for name in files)
        return total

    def stop(self):
        stop_group(self.proc, self.log)


def start(directory, sites):
    """``Nginx(directory, sites)``, once nginx is known to be installed."""
    require(nginx_missing())
    return Nginx(directory, sites)
